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

test("a ZeRO-3 run checkpointed on 2 ranks resumes at ZeRO-1 on 3, ZeRO-2 on 4 and plain on 1, each within 1e-4 relative loss of the uninterrupted run for 20 steps, and at ZeRO-3 on 2 bitwise", {
  timeout: 180_000,
}, async () => {
  const saved = 4,
    steps = saved + 20;
  const dir = join(work, "zero3", checkpointName(saved));
  const uninterrupted = await job(2, { layout: "zero-3", steps, saveAt: { step: saved, dir } });
  const same = await job(2, { layout: "zero-3", steps, resumeFrom: dir });
  for (let s = saved + 1; s <= steps; s++) assert.equal(same.losses[s], uninterrupted.losses[s], `ZeRO-3 on 2 again, step ${s}: bitwise`);
  assert.deepEqual(same.params, uninterrupted.params, "ZeRO-3 on 2 again: the final parameters bitwise");
  for (const [size, layout] of [
    [3, "zero-1"],
    [4, "zero-2"],
    [1, "single"],
  ] as const) {
    const resumed = await job(size, { layout, steps, resumeFrom: dir });
    assert.equal(Object.keys(resumed.losses).length, 20);
    for (let s = saved + 1; s <= steps; s++) {
      const [got, want] = [resumed.losses[s]!, uninterrupted.losses[s]!];
      assert.ok(Math.abs(got - want) <= 1e-4 * Math.abs(want), `${layout} on ${size}, step ${s}: loss ${got}, uninterrupted ${want}`);
    }
  }
});
