import assert from "node:assert/strict";
import { test } from "node:test";

import { RandomSampler, SequentialSampler } from "../../src/data/sampler.js";

test("samplers give every index once per epoch; random ones change order by epoch and seed", () => {
  assert.deepEqual([...new SequentialSampler(4).epochIndices(5)], [0, 1, 2, 3]);
  const sampler = new RandomSampler(100, { seed: 3 });
  const e0 = [...sampler.epochIndices(0)];
  const e1 = [...sampler.epochIndices(1)];
  assert.deepEqual(
    [...e0].sort((x, y) => x - y),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.deepEqual(
    [...e1].sort((x, y) => x - y),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.notDeepEqual(e0, e1);
  assert.deepEqual([...new RandomSampler(100, { seed: 3 }).epochIndices(1)], e1);
  assert.notDeepEqual([...new RandomSampler(100, { seed: 4 }).epochIndices(1)], e1);
  assert.equal(new RandomSampler(0).epochIndices(0).length, 0);
  assert.throws(() => sampler.epochIndices(-1), /RandomSampler: epoch must be a non-negative integer, got -1/);
  assert.throws(() => new SequentialSampler(2.5), /SequentialSampler: dataset size must be an integer/);
  assert.throws(() => new RandomSampler(4, { seed: -2 }), /seed must be a non-negative safe integer, got -2/);
});
