import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as ops from "../../src/ops/index.js";
import { fromTypedArray, zeros } from "../../src/tensor/create.js";
import type { DType } from "../../src/tensor/dtype.js";
import { kernels } from "../../src/backends/index.js";
import { sizeOf } from "../../src/tensor/shape.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { F32, assertClose } from "../helpers/compare.js";
import { checkOpFixtures } from "../helpers/op_fixtures.js";

checkOpFixtures("conv2d", ({ x, w, b }, attrs) => ops.conv2d(x!, w!, b, attrs));
checkOpFixtures("max_pool2d", ({ x }, { kernel, ...options }) => ops.maxPool2d(x!, kernel, options));
checkOpFixtures("avg_pool2d", ({ x }, { kernel, ...options }) => ops.avgPool2d(x!, kernel, options));

/** Deterministic, non-repeating values. */
function wave(shape: readonly number[], requiresGrad = false): Tensor {
  const t = fromTypedArray(
    Float32Array.from({ length: sizeOf(shape) }, (_, i) => Math.sin(1.3 * i + 0.4)),
    shape,
  );
  t.requiresGrad = requiresGrad;
  return t;
}

describe("conv2d gradients", () => {
  test("only the gradients asked for are computed, and they equal the full computation's", () => {
    tidy(() => {
      const run = (wantW: boolean) => {
        const x = wave([2, 3, 6, 5], true),
          w = wave([4, 3, 3, 3], wantW),
          b = wave([4], true);
        const y = ops.conv2d(x, w, b, { padding: 1, stride: [1, 2] });
        ops.sum(ops.mul(y, wave(y.shape))).backward();
        return { dx: x.grad!.toArray(), dw: w.grad?.toArray() ?? null, db: b.grad!.toArray() };
      };
      const full = run(true),
        frozen = run(false);
      assert.equal(frozen.dw, null);
      assert.deepEqual(frozen.dx, full.dx);
      assert.deepEqual(frozen.db, full.db);
      assert.ok(full.db.some((v) => v !== 0));
    });
  });

  test("bfloat16 operands give a float32 weight gradient when asked (for float32 master weights)", () => {
    const meta = Int32Array.from([2, 3, 5, 5, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0]);
    const bf16 = (n: number, phase: number) => {
      const src = Float32Array.from({ length: n }, (_, i) => Math.sin(0.7 * i + phase));
      const bits = new Uint16Array(n),
        exact = new Float32Array(n);
      kernels.cast(0, src, 1, bits);
      kernels.cast(1, bits, 0, exact);
      return { bits, exact };
    };
    const x = bf16(2 * 3 * 25, 0.1),
      dy = bf16(2 * 4 * 9, 0.5);
    const dw = new Float32Array(4 * 3 * 9),
      reference = new Float32Array(4 * 3 * 9);
    kernels.conv2dBackwardWeights(x.bits, dy.bits, dw, null, 1, 0, meta);
    kernels.conv2dBackwardWeights(x.exact, dy.exact, reference, null, 0, 0, meta);
    // bf16 products are exact in float32, so only the order of the float32 sums differs.
    assertClose([...dw], [...reference], F32, "float32 weight gradient of bfloat16 operands");
  });
});

describe("conv2d rejects bad arguments", () => {
  const f32 = (shape: number[], dtype: DType = "float32") => zeros(shape, { dtype });
  test("wrong rank", () => {
    assert.throws(() => ops.conv2d(f32([2, 3, 8]), f32([4, 3, 3, 3])), /conv2d: input \[2, 3, 8\] must be 4-D \[N, C, H, W\]/);
    assert.throws(() => ops.conv2d(f32([2, 3, 8, 8]), f32([4, 3, 3])), /conv2d: weight \[4, 3, 3\] must be 4-D/);
  });
  test("channel mismatch", () => {
    assert.throws(() => ops.conv2d(f32([1, 3, 5, 5]), f32([4, 2, 3, 3])), /conv2d: input \[1, 3, 5, 5\] has 3 channels, but weight \[4, 2, 3, 3\]/);
  });
  test("groups not dividing the channels", () => {
    assert.throws(() => ops.conv2d(f32([1, 4, 5, 5]), f32([3, 2, 3, 3]), null, { groups: 2 }), /conv2d: groups 2 must divide .* output channels 3/);
    assert.throws(() => ops.conv2d(f32([1, 4, 5, 5]), f32([3, 1, 3, 3]), null, { groups: 3 }), /conv2d: groups 3 must divide the input channels 4/);
    assert.throws(() => ops.conv2d(f32([1, 4, 5, 5]), f32([4, 4, 3, 3]), null, { groups: 0 }), /conv2d: groups must be a positive integer, got 0/);
  });
  test("kernel larger than the padded input", () => {
    assert.throws(
      () => ops.conv2d(f32([1, 1, 3, 3]), f32([1, 1, 5, 5])),
      /conv2d: kernel \[5, 5\] .* larger than the padded input \[1, 1, 3, 3\] \(padding \[0, 0\]\)/,
    );
    assert.throws(() => ops.conv2d(f32([1, 1, 5, 5]), f32([1, 1, 3, 3]), null, { dilation: 3 }), /conv2d: kernel \[3, 3\] \(dilation \[3, 3\]\) is larger/);
    assert.equal(ops.conv2d(f32([1, 1, 3, 3]), f32([1, 1, 5, 5]), null, { padding: 1 }).shape.join(), "1,1,1,1");
  });
  test("bad stride, padding, bias and dtypes", () => {
    assert.throws(() => ops.conv2d(f32([1, 1, 5, 5]), f32([1, 1, 3, 3]), null, { stride: 0 }), /conv2d: stride must be an integer ≥ 1 .* got 0/);
    assert.throws(() => ops.conv2d(f32([1, 1, 5, 5]), f32([1, 1, 3, 3]), null, { padding: [1, -1] }), /conv2d: padding .* got \[1,-1\]/);
    assert.throws(() => ops.conv2d(f32([1, 1, 5, 5]), f32([2, 1, 3, 3]), f32([3])), /conv2d: bias must be float32 \[2\], got float32 \[3\]/);
    assert.throws(
      () => ops.conv2d(f32([1, 1, 5, 5], "bfloat16"), f32([2, 1, 3, 3], "bfloat16"), f32([2], "bfloat16")),
      /conv2d: bias must be float32 \[2\], got bfloat16/,
    );
    assert.throws(() => ops.conv2d(f32([1, 1, 5, 5]), f32([1, 1, 3, 3], "bfloat16")), /conv2d: dtypes differ/);
    assert.throws(() => ops.conv2d(f32([1, 1, 5, 5], "int32"), f32([1, 1, 3, 3], "int32")), /conv2d: expected a floating tensor, got int32/);
  });
  test("the native kernel checks its arguments itself", () => {
    const meta = (groups: number) => Int32Array.from([1, 4, 5, 5, 3, 3, 3, 1, 1, 0, 0, 1, 1, groups, 0]);
    const x = new Float32Array(100),
      y = new Float32Array(27);
    assert.throws(() => kernels.conv2d(x, new Float32Array(3 * 4 * 9), null, y, 0, meta(2)), /conv2d: groups must divide .* groups 2/);
    assert.throws(() => kernels.conv2d(x, new Float32Array(10), null, y, 0, meta(1)), /conv2d: 'weight' holds 10 elements, expected 108/);
    assert.throws(() => kernels.conv2d(x, new Float32Array(108), null, y, 3, meta(1)), /conv2d: 'dtype' must be a floating dtype, got int32/);
    assert.throws(
      () => kernels.conv2dBackwardWeights(x, y, new Uint16Array(108), null, 0, 1, meta(1)),
      /conv2d backward-weights: a bfloat16 weight gradient needs bfloat16 operands, got float32/,
    );
    const huge = Int32Array.from([2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0]);
    assert.throws(() => kernels.conv2d(x, new Float32Array(1), null, y, 0, huge), /conv2d: the element count of x overflows/);
    const big = Int32Array.from([1, 1, 3, 3, 1, 5, 5, 1, 1, 0, 0, 1, 1, 1, 0]);
    assert.throws(
      () => kernels.conv2d(new Float32Array(9), new Float32Array(25), null, new Float32Array(1), 0, big),
      /conv2d: kernel H extent 5 .* exceeds the padded input H 3/,
    );
  });
});

describe("pooling rejects bad arguments", () => {
  const x = (shape: number[]) => zeros(shape);
  for (const [op, pool] of [
    ["max_pool2d", ops.maxPool2d],
    ["avg_pool2d", ops.avgPool2d],
  ] as const) {
    test(`${op}: padding over half the kernel`, () => {
      assert.throws(() => pool(x([1, 2, 6, 6]), 2, { padding: 2 }), new RegExp(`${op}: padding \\[2, 2\\] must be at most half the kernel \\[2, 2\\]`));
      assert.throws(
        () => pool(x([1, 2, 6, 6]), [3, 2], { padding: [1, 2] }),
        new RegExp(`${op}: padding \\[1, 2\\] must be at most half the kernel \\[3, 2\\]`),
      );
    });
    test(`${op}: wrong rank, kernel larger than the input, bad stride`, () => {
      assert.throws(() => pool(x([2, 6, 6]), 2), new RegExp(`${op}: input \\[2, 6, 6\\] must be 4-D`));
      assert.throws(() => pool(x([1, 1, 2, 2]), 3), new RegExp(`${op}: kernel \\[3, 3\\] .* larger than the padded input \\[1, 1, 2, 2\\]`));
      assert.throws(() => pool(x([1, 1, 4, 4]), 2, { stride: [1, 0] }), new RegExp(`${op}: stride must be .* got \\[1,0\\]`));
      assert.throws(() => pool(zeros([1, 1, 4, 4], { dtype: "int32" }), 2), new RegExp(`${op}: expected a floating tensor, got int32`));
    });
  }
  test("max_pool2d backward checks the indices it scatters to", () => {
    const overlapping = Int32Array.from([1, 1, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 0]);
    assert.throws(
      () => kernels.maxPool2dBackward(0, new Float32Array(4), Int32Array.from([0, 2, 99, 8]), new Float32Array(9), overlapping),
      /max_pool2d backward: index 99 at position 2 is outside the input plane \[0, 9\)/,
    );
    const meta = Int32Array.from([1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1, 0]);
    assert.throws(
      () => kernels.maxPool2dBackward(0, new Float32Array(4), Int32Array.from([0, 3, 99, 15]), new Float32Array(16), meta),
      /max_pool2d backward: index 99 at position 2 is outside the input plane \[0, 16\)/,
    );
    const dx = new Float32Array(16).fill(7);
    kernels.maxPool2dBackward(0, Float32Array.from([1, 2, 3, 4]), Int32Array.from([0, 3, 12, 15]), dx, meta);
    assert.deepEqual([...dx], [1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 4], "every element written: the window's maximum or 0");
  });
  test("the native kernels check the window themselves", () => {
    const meta = Int32Array.from([1, 1, 4, 4, 2, 2, 2, 2, 2, 0, 1, 1, 0]);
    assert.throws(
      () => kernels.maxPool2d(0, new Float32Array(16), new Float32Array(4), null, meta),
      /max_pool2d: padding \[2, 0\] must be non-negative and at most half the kernel \[2, 2\]/,
    );
    const huge = Int32Array.from([2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 2, 2, 2, 2, 0, 0, 1, 1, 0]);
    assert.throws(() => kernels.avgPool2d(0, new Float32Array(16), new Float32Array(4), huge, true), /avg_pool2d: the element count of x overflows/);
    const dilated = Int32Array.from([1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 2, 1, 0]);
    assert.throws(
      () => kernels.avgPool2d(0, new Float32Array(16), new Float32Array(2), dilated, true),
      /avg_pool2d: average pooling has no dilation, got \[2, 1\]/,
    );
  });
});
