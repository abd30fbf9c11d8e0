import assert from "node:assert/strict";
import { test } from "node:test";

import { backwardFrom } from "../../src/autograd/backward.js";
import { noGrad } from "../../src/autograd/grad_mode.js";
import * as ops from "../../src/ops/index.js";
import { tensor } from "../../src/tensor/create.js";
import { memory } from "../../src/tensor/memory.js";
import { tidy } from "../../src/tensor/scope.js";

test("backward adds into .grad of leaves across calls", () => {
  const x = tensor([1, 2, 3], { requiresGrad: true });
  tidy(() => ops.sum(ops.mul(x, x)).backward());
  assert.deepEqual(x.grad!.toArray(), [2, 4, 6]);
  tidy(() => ops.sum(ops.mul(x, 3)).backward());
  assert.deepEqual(x.grad!.toArray(), [5, 7, 9]);
});

test("a tensor used twice and a diamond graph sum their gradient paths", () => {
  const x = tensor([2], { requiresGrad: true });
  tidy(() => {
    const a = ops.exp(x);
    const b = ops.mul(a, x); // x·e^x
    const c = ops.add(b, a); // x·e^x + e^x
    c.backward(tensor([1]));
  });
  // d/dx (x e^x + e^x) = e^x (x + 2)
  assert.ok(Math.abs(x.grad!.item() - Math.exp(2) * 4) < 1e-4);
});

test("noGrad records nothing and detach cuts the graph", () => {
  const x = tensor([1, 2], { requiresGrad: true });
  const y = noGrad(() => ops.mul(x, 2));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.node, null);
  const z = ops.mul(ops.detach(x), 2);
  assert.equal(z.requiresGrad, false);
  assert.throws(() => ops.sum(z).backward(), /does not require grad/);
});

test("backward through a released graph is an error that says how to keep it", () => {
  const x = tensor([1, 2], { requiresGrad: true });
  const loss = ops.sum(ops.exp(x));
  loss.backward();
  assert.throws(() => loss.backward(), /already released.*retainGraph/);
  const y = tensor([1, 2], { requiresGrad: true });
  const l2 = ops.sum(ops.exp(y));
  l2.backward(undefined, { retainGraph: true });
  l2.backward();
  assert.deepEqual(
    y.grad!.toArray().map((v) => +v.toFixed(4)),
    [2 * Math.E, 2 * Math.E ** 2].map((v) => +v.toFixed(4)),
  );
});

test("a graph made in a tidy scope and not returned is released with it", () => {
  const x = tensor([1, 2], { requiresGrad: true });
  let loss = tensor([0]);
  tidy(() => {
    loss = ops.sum(ops.exp(x));
    return 0;
  });
  assert.throws(() => loss.backward(), /disposed|released/);
  const kept = tidy(() => ops.sum(ops.exp(x)));
  kept.backward();
  assert.ok(x.grad);
});

test("backward needs a gradient for non-scalars and checks its shape", () => {
  const x = tensor([1, 2], { requiresGrad: true });
  const y = ops.mul(x, 2);
  assert.throws(() => y.backward(), /needs an explicit gradient/);
  assert.throws(() => y.backward(tensor([1, 2, 3])), /gradient \[3\] float32 does not match the tensor \[2\] float32/);
  y.backward(tensor([1, 10]));
  assert.deepEqual(x.grad!.toArray(), [2, 20]);
});

test("gradients of a leaf used as the root, and of inputs not requiring grad, behave", () => {
  const x = tensor([3], { requiresGrad: true });
  x.backward();
  assert.deepEqual(x.grad!.toArray(), [1]);
  const w = tensor([1, 2], { requiresGrad: true });
  const c = tensor([5, 7]);
  ops.sum(ops.mul(w, c)).backward();
  assert.deepEqual(w.grad!.toArray(), [5, 7]);
  assert.equal(c.grad, null);
});

test("reshape's gradient flows back through views without copying bugs", () => {
  const x = tensor(
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    { requiresGrad: true },
  );
  tidy(() => {
    const y = ops.reshape(x, [3, 2]);
    const z = ops.mul(ops.reshape(y, [6]), ops.reshape(y, [6])); // both paths through views
    ops.sum(z).backward();
  });
  assert.deepEqual(x.grad!.toArray(), [2, 4, 6, 8, 10, 12]);
});

test("backwardFrom walks several roots at once, summing where their graphs meet", () => {
  const x = tensor([1, 2], { requiresGrad: true });
  tidy(() => {
    const h = ops.exp(x);
    backwardFrom([ops.mul(h, 2), ops.sum(h)], [tensor([1, 3]), null]);
  });
  // d/dx (1·2e^x₀ + 3·2e^x₁) + d/dx Σe^x = 3e^x₀, 7e^x₁
  const g = x.grad!.toArray();
  assert.ok(Math.abs(g[0]! - 3 * Math.exp(1)) < 1e-5 && Math.abs(g[1]! - 7 * Math.exp(2)) < 1e-4, String(g));
  assert.throws(() => backwardFrom([x], []), /backward: 1 tensors but 0 gradients/);
});

test("a gradient handed to two inputs is shared, never written through: later ones add out of place", () => {
  const x = tensor([1, 2, 3], { requiresGrad: true });
  const before = memory.report().total;
  tidy(() => {
    const a = ops.mul(x, tensor(2)); // a = 2x
    const b = ops.mul(x, tensor(3)); // b = 3x
    // Backward runs the later ops first: add's backward gives a and b the same gradient g = 5,
    // then a also gets 2a from a², made earlier.
    const squares = ops.sum(ops.mul(a, a));
    const loss = ops.add(squares, ops.sum(ops.mul(ops.add(a, b), tensor(5))));
    loss.backward();
  });
  // d/dx [5(2x + 3x) + 4x²] = 25 + 8x; had a's second gradient been added into the shared
  // storage, b would carry it too: 25 + 8x + 12x.
  assert.deepEqual(x.grad!.toArray(), [33, 41, 49]);
  x.grad!.dispose();
  assert.equal(memory.report().total, before, "no gradient handle left behind");
});
