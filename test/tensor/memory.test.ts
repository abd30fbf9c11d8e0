import assert from "node:assert/strict";
import { test } from "node:test";

import * as ops from "../../src/ops/index.js";
import { ones, tensor, zeros } from "../../src/tensor/create.js";
import { memory } from "../../src/tensor/memory.js";
import { kernels } from "../../src/backends/index.js";
import { BufferPool, pool } from "../../src/tensor/pool.js";
import { tidy } from "../../src/tensor/scope.js";

test("peak memory of a known allocation pattern is exact, by category", () => {
  const before = memory.report();
  memory.resetPeak();
  const a = zeros([1000]); // 4000 bytes of "other"
  const b = ones([500], { dtype: "bfloat16", category: "activation" }); // 1000 bytes
  a.dispose();
  const c = zeros([2000], { category: "parameter" }); // 8000 bytes
  const report = memory.report();
  assert.equal(report.total - before.total, 9000);
  assert.equal(report.peakTotal - before.total, 9000); // 1000 + 8000 beats 4000 + 1000
  assert.equal(report.peak.other - before.current.other, 4000);
  assert.equal(report.peak.parameter - before.current.parameter, 8000);
  assert.equal(report.peak.activation - before.current.activation, 1000);
  b.dispose();
  c.dispose();
  assert.equal(memory.report().total, before.total);
});

test("views share storage: reshape adds no bytes, and storage lives until the last handle goes", () => {
  const x = zeros([4, 6]);
  const start = memory.report().total;
  const v = ops.reshape(x, [24]);
  assert.equal(memory.report().total, start);
  x.dispose();
  assert.equal(memory.report().total, start, "the view keeps the storage");
  assert.equal(v.toArray().length, 24);
  v.dispose();
  assert.equal(memory.report().total, start - 96);
});

test("changing a tensor's category moves its bytes", () => {
  const t = zeros([10]);
  const before = memory.report().current;
  t.category = "optimizer";
  const after = memory.report().current;
  assert.equal(after.optimizer - before.optimizer, 40);
  assert.equal(before.other - after.other, 40);
  t.dispose();
});

test("tidy frees every tensor it made except the returned ones", () => {
  const x = tensor([1, 2, 3]);
  const start = memory.report().total;
  const kept = tidy(() => {
    const y = ops.mul(x, 2);
    const z = ops.add(y, 1);
    ops.exp(z);
    return z;
  });
  assert.equal(memory.report().total - start, 12, "only the returned 3-element tensor remains");
  assert.deepEqual(kept.toArray(), [3, 5, 7]);
  kept.dispose();
  x.dispose();
});

test("backward releases saved activations as it goes; only gradients remain", () => {
  const w = tensor(
    [
      [0.5, -1],
      [2, 0.25],
    ],
    { requiresGrad: true },
  );
  const x = tensor([
    [1, 2],
    [3, 4],
  ]);
  const start = memory.report().current;
  tidy(() => {
    const loss = ops.sum(ops.relu(ops.matmul(x, w)));
    loss.backward();
  });
  const end = memory.report().current;
  assert.equal(end.activation, start.activation, "no activation survives the step");
  assert.equal(end.gradient - start.gradient, 16, "w.grad: 4 floats");
  w.grad!.dispose();
  w.dispose();
  x.dispose();
});

test("a training-like loop holds memory flat from step to step", () => {
  const w = tensor(
    [
      [0.5, -1],
      [2, 0.25],
    ],
    { requiresGrad: true },
  );
  const x = tensor([
    [1, 2],
    [3, 4],
  ]);
  const totals: number[] = [];
  for (let step = 0; step < 5; step++) {
    tidy(() => ops.sum(ops.tanh(ops.matmul(x, w))).backward());
    totals.push(memory.report().total);
  }
  assert.deepEqual(new Set(totals).size, 1, `totals ${totals.join(", ")}`);
  w.grad!.dispose();
  w.dispose();
  x.dispose();
});

test("the pool reuses released buffers of the same size class", () => {
  const p = new BufferPool();
  const a = p.acquire(1000);
  p.release(a);
  assert.equal(p.cachedBytes, BufferPool.sizeClass(1000));
  assert.equal(p.acquire(1000), a);
  assert.equal(p.cachedBytes, 0);
  assert.ok(BufferPool.sizeClass(1_000_001) < 1_000_001 * 1.125);
  assert.equal(BufferPool.sizeClass(0), 64);
  const t = zeros([256]);
  const buffer = t.data.buffer;
  t.dispose();
  const u = zeros([256]);
  assert.equal(u.data.buffer, buffer, "the global pool hands the buffer back");
  u.dispose();
  assert.ok(pool.cachedBytes >= 1024);
});

test("pooled tensor data starts on a 64-byte boundary", () => {
  for (const n of [1, 7, 1000, 123457]) {
    const t = zeros([n]);
    assert.equal(t.data.byteOffset, kernels.alignmentOffset(t.data.buffer as ArrayBuffer), `size ${n}`);
    t.dispose();
  }
});
