import assert from "node:assert/strict";
import { test } from "node:test";

import { CurriculumSampler } from "../../src/data/curriculum.js";
import { DataLoader } from "../../src/data/dataloader.js";
import { ArrayDataset } from "../../src/data/dataset.js";
import { pacing } from "../../src/data/pacing.js";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test("pacing functions run from start to 1 at `steps`, with the literature's shapes", () => {
  const linear = pacing({ kind: "linear", start: 0.2, steps: 100 });
  const root = pacing({ kind: "root", start: 0.2, steps: 100 });
  const step = pacing({ kind: "step", start: 0.2, steps: 100, stages: 4 });
  for (const g of [linear, root, step]) {
    close(g(0), 0.2);
    close(g(100), 1);
    close(g(1e6), 1);
  }
  close(linear(50), 0.6);
  close(root(50), Math.sqrt(0.04 + 0.96 * 0.5)); // Platanios et al.'s competence
  assert.ok(root(10) > linear(10), "root pacing admits faster at first");
  close(step(24), 0.2);
  close(step(25), 0.4);
  close(step(74), 0.6);
  close(step(75), 0.8);
  const samples = Array.from({ length: 201 }, (_, t) => linear(t));
  assert.ok(
    samples.every((v, i) => i === 0 || v >= samples[i - 1]!),
    "non-decreasing",
  );
  assert.throws(() => pacing({ start: 0, steps: 10 }), /pacing: start must be in \(0, 1\], got 0/);
  assert.throws(() => pacing({ start: 0.5, steps: 0 }), /pacing: steps must be a positive integer, got 0/);
  assert.throws(() => pacing({ kind: "exp" as never, start: 0.5, steps: 3 }), /pacing: kind must be one of linear, root, step, got "exp"/);
  assert.throws(() => linear(-1), /pacing: time must be ≥ 0, got -1/);
});

/** Scores whose order is a known shuffle: sample i has difficulty rank[i]. */
const N = 40;
const rank = Array.from({ length: N }, (_, i) => (i * 17) % N);
const easiest = (k: number) => new Set(Array.from({ length: N }, (_, i) => i).filter((i) => rank[i]! < k));

test("per-epoch pacing: epoch e visits only the ⌈g(e)·N⌉ easiest samples, shuffled, each equally often", () => {
  const sampler = new CurriculumSampler({ scores: rank, pacing: { kind: "linear", start: 0.25, steps: 3 }, seed: 5 });
  assert.deepEqual(
    [...sampler.order].map((i) => rank[i]),
    Array.from({ length: N }, (_, k) => k),
    "order runs from easiest to hardest",
  );
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((e) => sampler.poolSize(e)),
    [10, 20, 30, 40, 40],
  );
  for (const epoch of [0, 1, 2, 3]) {
    const indices = [...sampler.epochIndices(epoch)];
    assert.equal(indices.length, N, "every epoch yields N indices (the loader's length is fixed)");
    const pool = sampler.poolSize(epoch);
    assert.ok(
      indices.every((i) => easiest(pool).has(i)),
      `epoch ${epoch}: only the ${pool} easiest`,
    );
    const counts = new Map<number, number>();
    for (const i of indices) counts.set(i, (counts.get(i) ?? 0) + 1);
    assert.equal(counts.size, pool, `epoch ${epoch}: every admitted sample is visited`);
    assert.ok(
      [...counts.values()].every((c) => c === N / pool || c === Math.floor(N / pool) || c === Math.ceil(N / pool)),
      "evenly",
    );
    assert.deepEqual(
      indices.slice(0, pool).sort((a, b) => a - b),
      [...easiest(pool)].sort((a, b) => a - b),
      "each pass over the pool is a permutation of it",
    );
  }
  const first = [...sampler.epochIndices(0)];
  assert.notDeepEqual(first.slice(0, 10), [...sampler.order.subarray(0, 10)], "shuffled within the pool, not in score order");
});

test("curriculum orders are deterministic: the same seed repeats every epoch, another seed differs", () => {
  const options = { scores: rank, pacing: { kind: "root" as const, start: 0.1, steps: 30 }, batchSize: 4, seed: 9 };
  const a = new CurriculumSampler(options),
    b = new CurriculumSampler(options);
  for (const e of [0, 1, 4]) assert.deepEqual([...a.epochIndices(e)], [...b.epochIndices(e)]);
  assert.notDeepEqual([...a.epochIndices(0)], [...new CurriculumSampler({ ...options, seed: 10 }).epochIndices(0)]);
  assert.notDeepEqual([...a.epochIndices(0)], [...a.epochIndices(1)]);
  // Ties in score keep index order, so equal scores still give one order.
  const tied = new CurriculumSampler({ scores: [1, 0, 1, 0], pacing: { start: 1, steps: 1 } });
  assert.deepEqual([...tied.order], [1, 3, 0, 2]);
});

test("per-step pacing: batch t of the run draws from the ⌈g(t)·N⌉ easiest, and a DataLoader resumes it exactly", () => {
  const sampler = new CurriculumSampler({ scores: rank, pacing: { kind: "step", start: 0.1, steps: 20, stages: 2 }, batchSize: 4, seed: 1 });
  // 10 batches per epoch: the pool is max(4, 4) = 4 for batches 0..9, 22 (⌈0.55·40⌉) for 10..19, then 40.
  const loader = new DataLoader(new ArrayDataset(Array.from({ length: N }, (_, i) => i)), { batchSize: 4, sampler, collate: (s: number[]) => s });
  const batches = [...loader, ...loader, ...loader];
  assert.equal(batches.length, 30);
  batches.forEach((batch, t) => {
    const pool = sampler.poolSize(t);
    assert.equal(pool, t < 10 ? 4 : t < 20 ? 22 : 40);
    assert.ok(
      batch.every((i) => easiest(pool).has(i)),
      `batch ${t} draws from the ${pool} easiest`,
    );
  });
  assert.deepEqual(new Set(batches.slice(0, 10).flat()), easiest(4));
  loader.loadState({ epoch: 1, batchIndex: 3 });
  assert.deepEqual([...loader], batches.slice(13, 20), "resumed mid-epoch, the same batches");
  assert.equal(new CurriculumSampler({ scores: rank, pacing: { start: 0.01, steps: 5 }, batchSize: 8 }).poolSize(0), 8, "never fewer than one batch");
});

test("bad curriculum options name the problem", () => {
  assert.throws(() => new CurriculumSampler({ scores: [0, NaN], pacing: { start: 0.5, steps: 2 } }), /CurriculumSampler: scores\[1\] = NaN is not a number/);
  assert.throws(() => new CurriculumSampler({ scores: undefined as never, pacing: { start: 0.5, steps: 2 } }), /scores must be an array of numbers/);
  assert.throws(() => new CurriculumSampler({ scores: [1], pacing: { start: 0.5, steps: 2 }, batchSize: 0 }), /batchSize must be a positive integer, got 0/);
  assert.throws(() => new CurriculumSampler({ scores: [1], pacing: { start: 2, steps: 2 } }), /pacing: start must be in \(0, 1\], got 2/);
  assert.throws(() => new CurriculumSampler({ scores: [1], pacing: { start: 1, steps: 2 } }).epochIndices(-1), /epoch must be a non-negative integer, got -1/);
});
