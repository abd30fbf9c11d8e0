import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { type Counts, SHAPE } from "./tensor_bytes_rank.js";

type Result = Record<1 | 2, { forward: Counts; backward: Counts }>;

async function runRanks(sequenceParallel: boolean): Promise<Result[]> {
  const job = startThreads({ size: 2, module: new URL("./tensor_bytes_rank.js", import.meta.url), args: { sequenceParallel }, onLine: () => {} });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as Result;
  });
}

const { batch, time, width } = SHAPE;
/** One activation of the residual stream in float32: batch × sequence × width elements. */
const ACTIVATION = batch * time * width * 4;
const TOKENS = batch * time;

test("tensor parallel t = 2 sends what Megatron's analysis predicts: per layer 2 all-reduces of batch × sequence × width forward and 2 backward, nothing else", {
  timeout: 60_000,
}, async () => {
  for (const [rank, r] of (await runRanks(false)).entries()) {
    for (const pass of ["forward", "backward"] as const) {
      const one = r[1][pass],
        two = r[2][pass];
      assert.deepEqual(
        { calls: two.allReduce.calls - one.allReduce.calls, bytes: two.allReduce.bytes - one.allReduce.bytes },
        { calls: 2, bytes: 2 * ACTIVATION },
        `rank ${rank}, ${pass}: one more layer`,
      );
      for (const op of ["allGather", "reduceScatter", "broadcast", "send", "recv", "barrier"] as const)
        assert.equal(two[op].calls, 0, `rank ${rank}, ${pass}: ${op}`);
    }
    // Outside the blocks: the embedding's g forward and the head's f backward (one activation
    // each), and the cross-entropy's row maxima, then sums and target logits (3 floats per token).
    assert.deepEqual(r[1].forward.allReduce, { calls: 2 + 1 + 2, bytes: 3 * ACTIVATION + 3 * TOKENS * 4 }, `rank ${rank}: forward of one layer`);
    assert.deepEqual(r[1].backward.allReduce, { calls: 2 + 1, bytes: 3 * ACTIVATION }, `rank ${rank}: backward of one layer`);
  }
});

test("sequence parallel t = 2: per layer the all-reduces become 2 all-gathers of this rank's rows and 2 reduce-scatters forward, and their conjugates backward", {
  timeout: 60_000,
}, async () => {
  for (const [rank, r] of (await runRanks(true)).entries()) {
    for (const pass of ["forward", "backward"] as const) {
      const one = r[1][pass],
        two = r[2][pass];
      const delta = (op: "allGather" | "reduceScatter" | "allReduce") => ({ calls: two[op].calls - one[op].calls, bytes: two[op].bytes - one[op].bytes });
      assert.deepEqual(delta("allGather"), { calls: 2, bytes: ACTIVATION }, `rank ${rank}, ${pass}: all-gathers (half the rows each)`);
      assert.deepEqual(delta("reduceScatter"), { calls: 2, bytes: 2 * ACTIVATION }, `rank ${rank}, ${pass}: reduce-scatters`);
      assert.deepEqual(delta("allReduce"), { calls: 0, bytes: 0 }, `rank ${rank}, ${pass}: no all-reduce in a layer`);
    }
  }
});
