import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { assertClose, F32 } from "../helpers/compare.js";
import type { DDPArgs, DDPResult as Result } from "./ddp_rank.js";

async function train(size: number, args: DDPArgs): Promise<Result[]> {
  const job = startThreads({ size, module: new URL("./ddp_rank.js", import.meta.url), args, onLine: () => {}, threadsPerWorker: 1 });
  const outcomes = await job.done;
  return outcomes.map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as Result;
  });
}

test("DDP over 2 and 4 threads gives the single-worker result on the same global batch after 20 steps (AdamW, clipping, accumulation without sync, gradients kept or dropped, with and without overlap)", {
  timeout: 180_000,
}, async () => {
  const args: DDPArgs = { steps: 20, globalBatch: 32, accumulate: 1 };
  const [single] = await train(1, args);
  assert.ok(single!.buckets > 2, `several buckets (${single!.buckets})`);
  assert.ok(single!.losses[19]! < single!.losses[0]!, "the model learns");
  assert.equal(single!.gradsInBuckets, args.steps, "every .grad is a view of its bucket");
  for (const [size, accumulate, overlap, keepGrads] of [
    [2, 1, true, false],
    [4, 1, true, false],
    [2, 2, true, false],
    [2, 2, true, true],
    [2, 1, false, false],
  ] as const) {
    const ranks = await train(size, { ...args, accumulate, overlap, keepGrads });
    assert.equal(ranks[0]!.gradsInBuckets, args.steps, `${size} ranks: every .grad is a view of its bucket`);
    // Overlap issues buckets while later ones still wait for their gradients; without it none is.
    assert.equal(ranks[0]!.duringBackward > 0, overlap, `overlap ${overlap}: ${ranks[0]!.duringBackward} all-reduces issued during backward`);
    // ... and tests them between backward's nodes, so they progress on the training thread.
    assert.equal(ranks[0]!.testedDuringBackward > 0, overlap, `overlap ${overlap}: ${ranks[0]!.testedDuringBackward} tests during backward`);
    for (const [r, result] of ranks.entries()) {
      result.params.forEach((p, i) => assertClose(p, single!.params[i]!, F32, `${size} ranks, accumulate ${accumulate}: rank ${r} parameter ${i}`));
      // Each rank's loss is its shard's; their mean is the global batch's loss.
      if (r === 0) {
        const mean = single!.losses.map((_, s) => ranks.reduce((a, x) => a + x.losses[s]!, 0) / size);
        assertClose(mean, single!.losses, F32, `${size} ranks: mean loss`);
      }
      assert.deepEqual(result.params, ranks[0]!.params, "replicas stay bitwise identical");
    }
  }
});
