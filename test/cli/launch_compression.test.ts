import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { repoRoot } from "../helpers/paths.js";
import { TINY_GPT_CHAR } from "../helpers/tiny_gpt.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const gptChar = join(repoRoot(), "examples", "gpt-char.json");
const work = mkdtempSync(join(tmpdir(), "turbine-compression-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** `turbine launch -n 2 --threads-per-worker 1 -- train examples/gpt-char.json (tiny) ARGS --json`. */
function launchTrain(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    [cli, "launch", "-n", "2", "--threads-per-worker", "1", "--", "train", gptChar, ...TINY_GPT_CHAR, "--no-progress", "--json", ...args],
    {
      cwd: work,
      encoding: "utf8",
      timeout: 300_000,
    },
  );
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("turbine launch -n 2 -- train --set parallel.compression.kind=powersgd trains and reports fewer comm_bytes per step than plain DDP", {
  timeout: 180_000,
}, () => {
  const perStep: Record<string, number> = {};
  for (const kind of ["none", "powersgd"]) {
    const r = launchTrain(["--set", `parallel.compression.kind=${kind}`]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { comm_bytes: number; eval: { loss: number } };
    assert.ok(Number.isFinite(summary.eval.loss), `${kind}: evaluation loss ${summary.eval.loss}`);
    assert.match(r.stdout, /gradient communication \(rank 0\): [\d,]+ bytes sent per step/);
    perStep[kind] = summary.comm_bytes;
  }
  // Plain DDP sends every float32 gradient once per step; PowerSGD the factors and the small tensors.
  assert.ok(perStep.none! > 0 && perStep.none! % 4 === 0, `none: ${perStep.none}`);
  assert.ok(perStep.powersgd! < perStep.none! / 2, `powersgd ${perStep.powersgd} vs none ${perStep.none} bytes per step`);
});

test("parallel.compression with parallel.zero 1 is a config error (exit 2) naming both", { timeout: 60_000 }, () => {
  const r = launchTrain(["--set", "parallel.compression.kind=topk", "--set", "parallel.zero=1"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /parallel\.compression "topk" compresses plain data parallel only .*zero 1/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
});
