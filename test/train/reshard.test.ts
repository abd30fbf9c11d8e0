import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { checkpointName } from "../../src/train/checkpoint.js";
import type { ReshardArgs, ReshardResult } from "./reshard_rank.js";

const work = mkdtempSync(join(tmpdir(), "turbine-reshard-"));
after(() => rmSync(work, { recursive: true, force: true }));

async function job(size: number, args: ReshardArgs): Promise<ReshardResult> {
  const outcomes = await startThreads({ size, module: new URL("./reshard_rank.js", import.meta.url), args, onLine: () => {} }).done;
  for (const o of outcomes) assert.ok(o.ok, o.ok ? "" : o.error.stack);
  return (outcomes[0] as { result: ReshardResult }).result;
}

const STEPS = 8,
  SAVED = 4;

test("a DDP run checkpointed on 2 ranks resumes on 1 and on 3 within 1e-4 relative loss of the uninterrupted run, and on 2 bitwise", {
  timeout: 120_000,
}, async () => {
  const dir = join(work, "ddp2", checkpointName(SAVED));
  const uninterrupted = await job(2, { layout: "ddp", steps: STEPS, saveAt: { step: SAVED, dir } });
  const same = await job(2, { layout: "ddp", steps: STEPS, resumeFrom: dir });
  assert.deepEqual(Object.keys(same.losses).map(Number), [5, 6, 7, 8], "the resumed job starts at the checkpoint's step");
  for (let s = SAVED + 1; s <= STEPS; s++) assert.equal(same.losses[s], uninterrupted.losses[s], `2 ranks again, step ${s}: bitwise`);
  assert.deepEqual(same.params, uninterrupted.params, "2 ranks again: the final parameters bitwise");
  for (const [size, layout] of [
    [1, "single"],
    [3, "ddp"],
  ] as const) {
    const resumed = await job(size, { layout, steps: STEPS, resumeFrom: dir });
    for (let s = SAVED + 1; s <= STEPS; s++) {
      const [got, want] = [resumed.losses[s]!, uninterrupted.losses[s]!];
      assert.ok(Math.abs(got - want) <= 1e-4 * Math.abs(want), `${size} ${layout}, step ${s}: loss ${got}, uninterrupted ${want}`);
    }
  }
});
