import assert from "node:assert/strict";
import { test } from "node:test";

import { Linear } from "../../src/nn/linear.js";
import { deferInit } from "../../src/nn/deferred.js";
import { assembleSplit, cutSplit, materializeSplit, type TensorSplit } from "../../src/parallel/tensor/split.js";
import { concat } from "../../src/ops/layout.js";
import { reshape } from "../../src/ops/view.js";
import { manualSeed } from "../../src/tensor/random.js";

// [out, in] = [9, 6]: 9 rows do not divide by 2 or 4 ranks (padding), 3 blocks of 3 divide by 3.
for (const [split, ranks] of [
  [{ dim: 0, blocks: 1 }, 2],
  [{ dim: 0, blocks: 1 }, 4],
  [{ dim: 0, blocks: 3 }, 3],
  [{ dim: 1, blocks: 1 }, 3],
] as [TensorSplit, number][]) {
  test(`tensor split ${JSON.stringify(split)} on ${ranks} ranks: a meta weight's parts are the eager weight's, zero-padded, and reassemble to it exactly`, () => {
    manualSeed(3);
    const eager = new Linear(6, 9);
    manualSeed(3);
    const meta = deferInit(() => new Linear(6, 9));
    const parts = Array.from({ length: ranks }, (_, r) => materializeSplit(meta.weight, split, r, ranks));
    parts.forEach((part, r) => assert.deepEqual(part.toArray(), cutSplit(eager.weight, split, r, ranks).toArray(), `rank ${r}`));
    const padded = parts.reduce((n, p) => n + p.size, 0) - eager.weight.size;
    assert.equal(padded, split.dim === 0 && split.blocks === 1 ? (Math.ceil(9 / ranks) * ranks - 9) * 6 : 0);
    const gathered = reshape(
      concat(
        parts.map((p) => reshape(p, [p.size])),
        0,
      ),
      [ranks * parts[0]!.size],
    );
    assert.deepEqual(assembleSplit(gathered, split, eager.weight.shape, ranks).toArray(), eager.weight.toArray());
  });
}

test("tensor split: q, k and v blocks whose rows do not divide by the ranks are refused, naming the sizes", () => {
  manualSeed(3);
  const meta = deferInit(() => new Linear(6, 9));
  assert.throws(() => materializeSplit(meta.weight, { dim: 0, blocks: 3 }, 0, 2), /an axis of 9 in 3 blocks does not split into 2 equal chunks per block/);
});
