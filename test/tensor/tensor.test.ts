import assert from "node:assert/strict";
import { test } from "node:test";

import { arange, empty, fromTypedArray, full, ones, tensor, zeros } from "../../src/tensor/create.js";
import { keep, tidy } from "../../src/tensor/scope.js";

test("creation functions give the shape, dtype and values asked for", () => {
  const z = zeros([2, 3]);
  assert.deepEqual([...z.shape], [2, 3]);
  assert.equal(z.dtype, "float32");
  assert.deepEqual(z.toArray(), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(ones([2], { dtype: "bfloat16" }).toArray(), [1, 1]);
  assert.deepEqual(full([3], 2.5, { dtype: "float16" }).toArray(), [2.5, 2.5, 2.5]);
  assert.deepEqual(full([2], 7, { dtype: "int32" }).toArray(), [7, 7]);
  assert.deepEqual(arange(5).toArray(), [0, 1, 2, 3, 4]);
  assert.deepEqual(arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
  assert.equal(empty([4, 4]).size, 16);
  const t = tensor([
    [1, 2],
    [3, 4],
  ]);
  assert.deepEqual([...t.shape], [2, 2]);
  assert.equal(tensor(3).item(), 3);
  assert.deepEqual([...tensor(3).shape], []);
});

test("bfloat16 and float16 round to nearest even", () => {
  // 1 + 2^-8 is halfway between two bf16 values; even rounding gives 1.
  assert.deepEqual(tensor([1 + 2 ** -8, 1 + 3 * 2 ** -8], { dtype: "bfloat16" }).toArray(), [1, 1 + 2 ** -6]);
  assert.deepEqual(tensor([65504, 1e-8, 70000], { dtype: "float16" }).toArray(), [65504, 0, Infinity]);
  assert.ok(Number.isNaN(tensor([NaN], { dtype: "bfloat16" }).item()));
});

test("fromTypedArray wraps memory without copying", () => {
  const array = new Float32Array([1, 2, 3, 4]);
  const t = fromTypedArray(array, [2, 2]);
  array[0] = 9;
  assert.equal(t.toArray()[0], 9);
  assert.throws(() => fromTypedArray(new Uint16Array(4), [4]), /needs an explicit dtype/);
  assert.throws(() => fromTypedArray(new Float32Array(4), [3]), /4 elements do not fill shape \[3\]/);
});

test("bad shapes and values are errors that name the function", () => {
  assert.throws(() => zeros([2, -1]), /zeros: invalid shape \[2, -1\]/);
  assert.throws(() => zeros([1.5]), /zeros: invalid shape/);
  assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
  assert.throws(() => tensor([1, 2, 3], { shape: [2, 2] }), /3 values do not fill shape \[2, 2\]/);
  assert.throws(() => zeros([2], { dtype: "float64" as never }), /unknown dtype "float64"/);
  assert.throws(() => arange(0, 1, 0), /step must be finite and non-zero/);
  assert.throws(() => tensor([1, 2]).item(), /item: tensor of shape \[2\] has 2 elements/);
});

test("a disposed tensor says so when used", () => {
  const t = tensor([1, 2]);
  t.dispose();
  assert.throws(() => t.toArray(), /Tensor of shape \[2\] float32 was disposed/);
  assert.equal(t.disposed, true);
  t.dispose(); // idempotent
  const inner = tidy(() => tensor([1]));
  assert.equal(inner.disposed, false, "returned from the scope");
  let made = tensor([0]);
  tidy(() => {
    made = tensor([5]);
  });
  assert.throws(() => made.item(), /end of the tidy\(\) scope/);
  const kept = tidy(() => {
    keep(tensor([1]));
    return 0;
  });
  assert.equal(kept, 0);
});

test("tidy rejects async functions rather than disposing under them", () => {
  assert.throws(() => tidy(async () => 1), /synchronous function/);
});

test("toString shows shape, dtype and small contents", () => {
  assert.equal(tensor([1, 2]).toString(), "Tensor(shape=[2], dtype=float32, [1, 2])");
});
