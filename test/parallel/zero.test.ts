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
