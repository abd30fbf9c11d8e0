import assert from "node:assert/strict";
import { test } from "node:test";

import * as ops from "../../src/ops/index.js";
import { tensor, zeros } from "../../src/tensor/create.js";
import { kernels } from "../../src/backends/index.js";

test("shape errors name the op and the shapes", () => {
  assert.throws(() => ops.add(zeros([2, 3]), zeros([4])), /add: shapes \[2, 3\] and \[4\] do not broadcast/);
  assert.throws(() => ops.matmul(zeros([2, 3]), zeros([4, 5])), /matmul: inner dimensions differ: \[2, 3\] · \[4, 5\] \(3 vs 4\)/);
  assert.throws(() => ops.matmul(zeros([2, 2, 3]), zeros([3, 3, 4])), /matmul: batch axes \[2\] and \[3\]/);
  assert.throws(() => ops.linear(zeros([2, 3]), zeros([4, 5])), /linear: input \[2, 3\] does not end in 5 features/);
  assert.throws(() => ops.reshape(zeros([2, 3]), [4, 2]), /reshape: cannot view \[2, 3\] \(6 elements\) as \[4, 2\]/);
  assert.throws(() => ops.sum(zeros([2, 3]), 2), /sum: axis 2 is out of range for a tensor of rank 2/);
  assert.throws(() => ops.max(zeros([2, 0]), 1), /max: cannot reduce the empty axis 1 of \[2, 0\]/);
  assert.throws(() => ops.expand(zeros([2, 3]), [3, 3]), /expand/);
});

test("dtype errors name the op and the dtypes", () => {
  const ints = tensor([1, 2], { dtype: "int32" });
  assert.throws(() => ops.relu(ints), /relu: expected a floating tensor, got int32 \[2\]/);
  assert.throws(() => ops.add(zeros([2]), zeros([2], { dtype: "bfloat16" })), /add: dtypes differ: float32 \[2\] and bfloat16 \[2\]/);
  assert.throws(() => ops.gelu(zeros([1]), "fast" as never), /gelu: approximate must be "none" or "tanh"/);
});

test("native kernels check lengths and kinds before touching memory", () => {
  const meta = new Int32Array([1, 4, 1, 1]);
  assert.throws(
    () => kernels.binary(0, 0, new Float32Array(4), new Float32Array(3), new Float32Array(4), meta),
    /binary: operand 1 is read up to element 3 but holds 3 elements/,
  );
  assert.throws(
    () => kernels.unary(0, 0, new Float32Array(4), new Int32Array(4), 0),
    /unary: 'out' is a Int32Array, but dtype float32 is stored in a Float32Array/,
  );
  assert.throws(() => kernels.unary(999, 0, new Float32Array(1), new Float32Array(1), 0), /unary: unknown unary op code 999/);
  const mm = new Int32Array([1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(
    () => kernels.matmul(new Float32Array(4), new Float32Array(3), new Float32Array(4), null, 0, 0, mm),
    /matmul: 'b' holds 3 elements, expected 4/,
  );
  assert.throws(() => kernels.reduce(0, 0, new Float32Array(6), new Float32Array(2), 2, 4, 1, 0), /reduce: 'x' holds 6 elements, expected 8/);
  assert.throws(() => kernels.cast(0, new Float32Array(2), 7, new Float32Array(2)), /cast: 'dstDtype' is not a dtype code/);
  assert.throws(() => kernels.setNumThreads(0), /setNumThreads: thread count must be in 1\.\.1024, got 0/);
});

test("float to int32 casts truncate, and NaN or overflow give INT_MIN as PyTorch's", () => {
  const src = new Float32Array([1.9, -1.9, Number.NaN, 1e10, -1e10, 2147483520]);
  const dst = new Int32Array(6);
  kernels.cast(0, src, 3, dst);
  assert.deepEqual([...dst], [1, -1, -2147483648, -2147483648, -2147483648, 2147483520]);
});
