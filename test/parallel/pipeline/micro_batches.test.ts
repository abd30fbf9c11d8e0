import assert from "node:assert/strict";
import { test } from "node:test";

import { mul } from "../../../src/ops/binary.js";
import { slice } from "../../../src/ops/layout.js";
import { sum } from "../../../src/ops/reduce.js";
import { MicroBatches } from "../../../src/parallel/pipeline/micro_batches.js";
import { manualSeed, randn } from "../../../src/tensor/random.js";
import type { Tensor } from "../../../src/tensor/tensor.js";
import { assertRelative } from "../../helpers/compare.js";

test("micro-batches of a batch that requires its gradient are leaves; finish() adds their gradients to the batch's in row order, once", () => {
  manualSeed(3);
  const x = randn([6, 4]);
  x.requiresGrad = true;
  const weights = [randn([2, 4]), randn([2, 4]), randn([2, 4])];
  // Reference: the gradient through slice, twice (a second step accumulates).
  for (let i = 0; i < 3; i++) sum(mul(slice(x, 0, 2 * i, 2 * i + 2), weights[i]!)).backward();
  const once = [...(x.grad!.toHost() as Float32Array)];
  for (let i = 0; i < 3; i++) sum(mul(slice(x, 0, 2 * i, 2 * i + 2), weights[i]!)).backward();
  const twice = [...(x.grad!.toHost() as Float32Array)];
  x.grad = null;

  let before: number[] | null = null;
  for (const expected of [once, twice]) {
    const micro = new MicroBatches(x, 3);
    // Leaves: a backward stops at the micro-batch and never touches the whole batch.
    for (const part of micro.parts) assert.equal(part.node, null);
    // Backwards in another order than the forwards (as a schedule runs them).
    for (const i of [2, 0, 1]) sum(mul(micro.parts[i]!, weights[i]!)).backward();
    const pending = x.grad as Tensor | null;
    assert.deepEqual(pending ? [...(pending.toHost() as Float32Array)] : null, before, "the batch's gradient waits for finish()");
    micro.finish();
    before = [...(x.grad!.toHost() as Float32Array)];
    assertRelative(before, expected, 1e-6, "batch gradient");
    assert.ok(micro.parts.every((p) => p.disposed));
  }
});

test("micro-batches: a batch not asking for its gradient gets none; rows that do not divide are cut as torch.tensor_split cuts, weighed by their rows", () => {
  const y = randn([4, 2]);
  const micro = new MicroBatches(y, 2);
  assert.deepEqual(micro.parts[1]!.toArray(), slice(y, 0, 2, 4).toArray());
  // An even cut weighs each part by exactly 1/m (the bits of the loss scale before uneven cuts).
  assert.deepEqual(micro.weights, [1 / 2, 1 / 2]);
  micro.finish();
  assert.equal(y.grad ?? null, null);
  const rows = (m: MicroBatches): number[] => m.parts.map((p) => p.shape[0]!);
  const uneven = new MicroBatches(randn([10, 2]), 4);
  assert.deepEqual(rows(uneven), [3, 3, 2, 2]);
  assert.deepEqual(uneven.weights, [0.3, 0.3, 0.2, 0.2]);
  // An epoch's short last batch: one micro-batch per row.
  const short = new MicroBatches(randn([3, 2]), 8);
  assert.deepEqual(rows(short), [1, 1, 1]);
  assert.throws(() => new MicroBatches(y, 0), /positive integer, got 0/);
});
