import assert from "node:assert/strict";
import { test } from "node:test";

import { DistributedSampler } from "../../src/data/distributed_sampler.js";
import { RandomSampler, SequentialSampler } from "../../src/data/sampler.js";

const shards = (size: number, world: number, options: object = {}, epoch = 0) =>
  Array.from({ length: world }, (_, rank) => [...new DistributedSampler(size, { rank, worldSize: world, seed: 5, ...options }).epochIndices(epoch)]);

test("DistributedSampler: disjoint equal shards that together are the epoch's permutation", () => {
  const parts = shards(12, 3);
  assert.ok(parts.every((p) => p.length === 4));
  assert.deepEqual(
    parts.flat().sort((a, b) => a - b),
    [...Array(12).keys()],
  );
  const global = new RandomSampler(12, { seed: 5 }).epochIndices(0);
  assert.deepEqual(parts[1], [global[1], global[4], global[7], global[10]], "rank r takes every worldSize-th index from r, as PyTorch");
  assert.notDeepEqual(shards(12, 3, {}, 1), parts, "reshuffled per epoch");
  assert.deepEqual(shards(12, 3, {}, 1), shards(12, 3, {}, 1), "the same epoch gives the same shards");
});

test("DistributedSampler: pads by repeating the order's start, or drops the tail", () => {
  const padded = shards(10, 4, { shuffle: false });
  assert.deepEqual(padded, [
    [0, 4, 8],
    [1, 5, 9],
    [2, 6, 0],
    [3, 7, 1],
  ]);
  assert.deepEqual(shards(10, 4, { shuffle: false, dropLast: true }), [
    [0, 4],
    [1, 5],
    [2, 6],
    [3, 7],
  ]);
  assert.deepEqual(shards(2, 4, { shuffle: false }), [[0], [1], [0], [1]], "padding longer than the data repeats it");
  assert.deepEqual(shards(0, 2), [[], []]);
});

test("DistributedSampler: shards any sampler's order; bad arguments are named", () => {
  const s = new DistributedSampler(new SequentialSampler(6), { rank: 1, worldSize: 2 });
  assert.deepEqual([...s.epochIndices(0)], [1, 3, 5]);
  assert.throws(() => new DistributedSampler(6, { rank: 2, worldSize: 2 }), /DistributedSampler: rank must be an integer in \[0, 2\), got 2/);
  assert.throws(() => new DistributedSampler(6, { rank: 0, worldSize: 0 }), /worldSize must be a positive integer, got 0/);
  assert.throws(() => new DistributedSampler(new SequentialSampler(6), { rank: 0, worldSize: 2, seed: 1 }), /shuffle and seed apply to a dataset size/);
});
