import assert from "node:assert/strict";
import { test } from "node:test";

import { magnitudeMasks, nmMask } from "../../src/prune/masks.js";
import { cubicSparsity, isUpdateStep } from "../../src/prune/schedule.js";

const schedule = { start: 10, end: 50, every: 10 };

test("cubicSparsity is Zhu & Gupta's s_f·(1 − (1 − (t − t0)/(nΔt))³), held between update steps, 0 before start and s_f from end", () => {
  const expected = (t: number): number => {
    if (t < 10) return 0;
    const at = Math.min(50, 10 + Math.floor((t - 10) / 10) * 10);
    return 0.8 * (1 - (1 - (at - 10) / 40) ** 3);
  };
  // Written out at the step edges, so a schedule one step early or late fails.
  assert.equal(cubicSparsity(9, schedule, 0.8), 0);
  assert.equal(cubicSparsity(10, schedule, 0.8), 0);
  assert.equal(cubicSparsity(19, schedule, 0.8), 0);
  assert.ok(Math.abs(cubicSparsity(20, schedule, 0.8) - 0.8 * (1 - 0.75 ** 3)) < 1e-12);
  assert.ok(Math.abs(cubicSparsity(29, schedule, 0.8) - 0.4625) < 1e-12);
  assert.ok(Math.abs(cubicSparsity(30, schedule, 0.8) - 0.7) < 1e-12);
  assert.equal(cubicSparsity(49, schedule, 0.8), 0.8 * (1 - 0.25 ** 3));
  assert.equal(cubicSparsity(50, schedule, 0.8), 0.8);
  assert.equal(cubicSparsity(500, schedule, 0.8), 0.8);
  for (let t = 0; t < 60; t++) assert.ok(Math.abs(cubicSparsity(t, schedule, 0.8) - expected(t)) < 1e-12, `step ${t}`);
  assert.deepEqual(
    Array.from({ length: 60 }, (_, t) => t).filter((t) => isUpdateStep(t, schedule)),
    [10, 20, 30, 40, 50],
  );
  // every not dividing end − start: the last update is still at end; start = end prunes at once.
  assert.deepEqual(
    Array.from({ length: 30 }, (_, t) => t).filter((t) => isUpdateStep(t, { start: 0, end: 10, every: 4 })),
    [0, 4, 8, 10],
  );
  assert.equal(cubicSparsity(5, { start: 5, end: 5, every: 1 }, 0.6), 0.6);
  assert.equal(cubicSparsity(4, { start: 5, end: 5, every: 1 }, 0.6), 0);
});

const values = (n: number, seed: number): Float32Array => {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1);
};

test("magnitudeMasks prune exactly floor(sparsity · n) of the smallest |w|, per layer or over all layers, and never regrow", () => {
  const a = values(100, 1),
    b = values(37, 2).map((v) => v * 3);
  const weights = [
    { name: "a", values: a, shape: [10, 10], mask: null },
    { name: "b", values: b, shape: [37, 1], mask: null },
  ];
  const zeros = (m: Uint8Array): number => m.reduce((n, bit) => n + 1 - bit, 0);
  const [ma, mb] = magnitudeMasks(weights, 0.3, "layer");
  assert.equal(zeros(ma!), 30);
  assert.equal(zeros(mb!), Math.floor(0.3 * 37));
  // Each pruned |w| is at most each kept one.
  const maxPruned = Math.max(...[...a].filter((_, i) => ma![i] === 0).map(Math.abs));
  const minKept = Math.min(...[...a].filter((_, i) => ma![i] === 1).map(Math.abs));
  assert.ok(maxPruned <= minKept);
  const global = magnitudeMasks(weights, 0.3, "global");
  assert.equal(zeros(global[0]!) + zeros(global[1]!), Math.floor(0.3 * 137));
  // b is three times larger, so a global threshold takes more of a.
  assert.ok(zeros(global[0]!) / 100 > zeros(global[1]!) / 37);
  // A pruned element whose weight grew large again stays pruned at the next, higher sparsity.
  const grown = Float32Array.from(a);
  const first = [...ma!].indexOf(0);
  grown[first] = 100;
  const [next] = magnitudeMasks([{ name: "a", values: grown, shape: [10, 10], mask: ma! }], 0.5, "layer");
  assert.equal(zeros(next!), 50);
  for (let i = 0; i < 100; i++) if (ma![i] === 0) assert.equal(next![i], 0, `element ${i} regrew`);
  // Ties are broken in index order so the count is exact.
  const [tied] = magnitudeMasks([{ name: "t", values: new Float32Array(10).fill(1), shape: [10], mask: null }], 0.35, "layer");
  assert.deepEqual([...tied!], [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
});

test("nmMask keeps the n largest |w| of every m consecutive inputs, for a Linear and across the input channels of a conv", () => {
  const w = values(8 * 16, 3);
  const mask = nmMask(w, [8, 16], 2, 4);
  for (let r = 0; r < 8; r++) {
    for (let g = 0; g < 16; g += 4) {
      const idx = [0, 1, 2, 3].map((j) => r * 16 + g + j);
      assert.equal(idx.filter((i) => mask[i] === 1).length, 2, `row ${r} group ${g}`);
      const sorted = [...idx].sort((i, j) => Math.abs(w[j]!) - Math.abs(w[i]!));
      assert.deepEqual(
        sorted.slice(0, 2).map((i) => mask[i]),
        [1, 1],
      );
    }
  }
  // conv [out 4, in 8, 3, 3]: a group is 4 input channels at one output and one kernel position
  // (not 4 neighbouring kernel positions of one input channel).
  const c = values(4 * 8 * 9, 4);
  const cm = nmMask(c, [4, 8, 3, 3], 2, 4);
  for (let o = 0; o < 4; o++)
    for (let k = 0; k < 9; k++)
      for (let g = 0; g < 8; g += 4) {
        const kept = [0, 1, 2, 3].filter((j) => cm[(o * 8 + g + j) * 9 + k] === 1).length;
        assert.equal(kept, 2, `out ${o} position ${k} group ${g}`);
      }
  assert.throws(() => nmMask(values(6 * 6, 5), [6, 6], 2, 4), /input dimension 6 is not a multiple of m 4/);
});
