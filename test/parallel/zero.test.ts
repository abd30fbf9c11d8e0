import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { assertClose, F32 } from "../helpers/compare.js";
import { assertZeroMatchesDdp } from "./zero_check.js";
import type { ZeroArgs, ZeroResult } from "./zero_rank.js";

async function train(size: number, args: ZeroArgs): Promise<ZeroResult[]> {
  const job = startThreads({ size, module: new URL("./zero_rank.js", import.meta.url), args, onLine: () => {}, threadsPerWorker: 1 });
  const outcomes = await job.done;
  return outcomes.map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as ZeroResult;
  });
}

test("ZeRO 1, 2 and 3 over 2 and 3 threads give DDP's parameters within 1e-5 after 20 AdamW steps (two param groups, clipping, accumulation 2); stages 2 and 3 reduce-scatter during backward; each rank keeps 1/world of the optimizer state and no full gradient; stage 3 starts from a deferInit model (never whole on a rank) and frees the parameters between steps", {
  timeout: 240_000,
}, async () => {
  for (const size of [2, 3]) await assertZeroMatchesDdp(train, size, "threads");
});

test("ZeRO 2 with loss scaling: an inf in one rank's gradient chunk makes every rank skip that step, so the replicas stay identical; without it the result is DDP's", {
  timeout: 120_000,
}, async () => {
  const args = { steps: 5, globalBatch: 12, accumulate: 1, scaler: true };
  const [ddp] = await train(2, { ...args, zero: 0 });
  for (const result of await train(2, { ...args, zero: 2 })) {
    assert.equal(result.skippedSteps, 0);
    result.params.forEach((p, i) => assertClose(p, ddp!.params[i]!, F32, `parameter ${i}`));
  }
  const ranks = await train(2, { ...args, zero: 2, infOnRank0At: 2 });
  for (const result of ranks) {
    assert.equal(result.skippedSteps, 1, "each rank skips the step whose gradients held an inf on rank 0");
    assert.deepEqual(result.params, ranks[0]!.params, "every rank ends with the same parameters");
  }
});

test("ZeRO checkpoints reshard: a state saved at ZeRO-3 on 2 ranks resumes at ZeRO-1 on 3 ranks, ZeRO-2 on 3 and DDP on 1 with the uninterrupted run's parameters within 1e-5 after 4 more steps, and at ZeRO-3 on 2 bitwise", {
  timeout: 240_000,
}, async () => {
  const args = { steps: 8, globalBatch: 36, accumulate: 2 };
  const first = await train(2, { ...args, zero: 3, saveAfter: 4 });
  const states = first.map((r) => r.saved!);
  assert.equal(states[0]!.layout, "zero-3");
  const resume = { states, step: 4 };
  const same = await train(2, { ...args, zero: 3, resume });
  same.forEach((r) => assert.deepEqual(r.params, first[0]!.params, "the same layout continues bitwise"));
  for (const [size, zero] of [
    [3, 1],
    [3, 2],
    [1, 0],
  ] as const) {
    const ranks = await train(size, { ...args, zero, resume });
    ranks[0]!.params.forEach((p, i) => assertClose(p, first[0]!.params[i]!, F32, `ZeRO-${zero} on ${size} ranks: parameter ${i}`));
  }
});
