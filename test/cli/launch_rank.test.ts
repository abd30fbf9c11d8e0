import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";

async function ranks(argv: string[]): Promise<{ result: { code: number; message?: string }; env: Record<string, string> }[]> {
  const job = startThreads({ size: 3, module: new URL("./launch_env_rank.js", import.meta.url), args: { argv }, onLine: () => {}, threadsPerWorker: 1 });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.message);
    return o.result as { result: { code: number; message?: string }; env: Record<string, string> };
  });
}

test("a launched rank runs any turbine command with torchrun's RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE in its own environment", async () => {
  const out = await ranks(["train", "--list"]);
  assert.deepEqual(
    out.map((r) => r.result),
    [{ code: 0 }, { code: 0 }, { code: 0 }],
  );
  assert.deepEqual(
    out.map((r) => r.env),
    [0, 1, 2].map((rank) => ({ RANK: String(rank), WORLD_SIZE: "3", LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: "3" })),
  );
  assert.equal(process.env.RANK, undefined, "the launcher's own environment is untouched");
});

test("a rank's failure comes back as the CLI's exit code and one-line message, not as a crash", async () => {
  const out = await ranks(["sample", "--tokens", "x"]);
  for (const r of out) {
    assert.equal(r.result.code, 2);
    assert.match(
      r.result.message!,
      /^sample: option '--tokens <n>' argument 'x' is invalid\. expected an integer from 0 to 1000000; see turbine sample --help$/,
    );
  }
});
