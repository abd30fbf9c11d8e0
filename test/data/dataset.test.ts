import assert from "node:assert/strict";
import { test } from "node:test";

import { ArrayDataset, randomSplit, Subset } from "../../src/data/dataset.js";

const squares = new ArrayDataset(
  Array.from({ length: 10 }, (_, i) => i * i),
  [1],
);

test("ArrayDataset gives its samples by index and checks the index", () => {
  assert.equal(squares.length, 10);
  assert.equal(squares.get(3), 9);
  assert.deepEqual(squares.sampleShape, [1]);
  assert.throws(() => squares.get(10), /ArrayDataset: index 10 is out of range for a dataset of 10 samples/);
  assert.throws(() => squares.get(1.5), /index 1.5 is out of range/);
});

test("Subset maps its indices onto the base dataset", () => {
  const sub = new Subset(squares, [7, 2, 2]);
  assert.equal(sub.length, 3);
  assert.deepEqual([sub.get(0), sub.get(1), sub.get(2)], [49, 4, 4]);
  assert.deepEqual(sub.sampleShape, [1]);
  assert.throws(() => sub.get(3), /Subset: index 3 is out of range for a dataset of 3 samples/);
  assert.throws(() => new Subset(squares, [0, 10]), /Subset: indices\[1\] = 10 is out of range for a dataset of 10 samples/);
  assert.throws(() => new Subset(squares, [-1]), /indices\[0\] = -1/);
});

test("randomSplit cuts disjoint subsets covering the dataset, the same for the same seed", () => {
  const [a, b] = randomSplit(squares, [7, 3], 11) as [Subset<number>, Subset<number>];
  assert.equal(a.length, 7);
  assert.equal(b.length, 3);
  const all = [...a.indices, ...b.indices].sort((x, y) => x - y);
  assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.notDeepEqual([...a.indices], [0, 1, 2, 3, 4, 5, 6], "shuffled, not a prefix");
  const [again] = randomSplit(squares, [7, 3], 11) as [Subset<number>];
  assert.deepEqual([...again.indices], [...a.indices]);
  const [other] = randomSplit(squares, [7, 3], 12) as [Subset<number>];
  assert.notDeepEqual([...other.indices], [...a.indices]);
  assert.throws(() => randomSplit(squares, [7, 2]), /randomSplit: lengths \[7, 2\] add up to 9, but the dataset has 10 samples/);
  assert.throws(() => randomSplit(squares, [11, -1]), /non-negative integers, got \[11, -1\]/);
});
