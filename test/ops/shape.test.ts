import assert from "node:assert/strict";
import { describe, test } from "node:test";

import fc from "fast-check";

import * as ops from "../../src/ops/index.js";
import { stridedMeta } from "../../src/ops/view.js";
import { tensor, zeros } from "../../src/tensor/create.js";
import { kernels } from "../../src/backends/index.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { F32, assertClose } from "../helpers/compare.js";
import { checkOpFixtures } from "../helpers/op_fixtures.js";

checkOpFixtures("transpose", ({ x }, { a, b }) => ops.transpose(x!, a, b));
checkOpFixtures("permute", ({ x }, { dims }) => ops.permute(x!, dims));
checkOpFixtures("slice", ({ x }, { axis, start, end, step }) => ops.slice(x!, axis, start, end ?? undefined, step));
checkOpFixtures("concat", (inputs, { axis }) => ops.concat(Object.values(inputs), axis));
checkOpFixtures("split", ({ x }, { size, axis }) => ops.split(x!, size, axis));
checkOpFixtures("chunk", ({ x }, { chunks, axis }) => ops.chunk(x!, chunks, axis));
checkOpFixtures("where", ({ cond, a, b }) => ops.where(cond!, a!, b!));
checkOpFixtures("masked_fill", ({ x, mask }, { value }) => ops.maskedFill(x!, mask!, value));
checkOpFixtures("embedding", ({ indices, weight }) => ops.embedding(indices!, weight!));
checkOpFixtures("cast", ({ x }, { dtype, back }) => (back ? ops.cast(ops.cast(x!, dtype), back) : ops.cast(x!, dtype)));

describe("layout ops beyond the fixtures", () => {
  test("split: outputs left out of the loss get zero gradients", () =>
    tidy(() => {
      const x = tensor([[1, 2, 3, 4, 5]], { requiresGrad: true });
      const [first] = ops.split(x, 2, 1);
      ops.sum(ops.mul(first!, 3)).backward();
      assert.deepEqual(x.grad!.toArray(), [3, 3, 0, 0, 0]);
    }));

  test("slice: end defaults to the end of the axis", () =>
    tidy(() => assert.deepEqual(ops.slice(tensor([0, 1, 2, 3, 4]), 0, 1, undefined, 3).toArray(), [1, 4])));

  test("permute of a 0-d tensor copies its one element", () => tidy(() => assert.deepEqual(ops.permute(tensor(7), []).toArray(), [7])));

  test("permutes of slabs too large for the cache take the tiled transpose, exactly, in every dtype", () =>
    tidy(() => {
      // [2, 401, 331, 2] -> [0, 3, 2, 1]: slabs of 331 × 401 elements (over 256 KiB even in
      // bfloat16), ragged against 16 × 16 tiles.
      const [N, H, W, C] = [2, 401, 331, 2],
        dims = [0, 3, 2, 1];
      const values = Array.from({ length: N * H * W * C }, (_, k) => (k % 251) - 125); // exact in bfloat16
      const expected: number[] = [];
      for (let n = 0; n < N; n++)
        for (let c = 0; c < C; c++) for (let w = 0; w < W; w++) for (let h = 0; h < H; h++) expected.push(values[((n * H + h) * W + w) * C + c]!);
      for (const dtype of ["float32", "bfloat16", "int32"] as const) {
        const x = ops.cast(tensor(values, { shape: [N, H, W, C] }), dtype);
        const out = ops.permute(x, dims);
        assert.deepEqual(out.shape, [N, C, W, H]);
        assert.deepEqual(ops.cast(out, "float32").toArray(), expected, dtype);
      }
    }));
});

describe("strided copies merge the dimensions both operands step over as one", () => {
  test("an NHWC → NCHW permute of [128, 5, 5, 64] copies 8192 runs of 25 (h and w merged), size-1 axes dropped", () => {
    // permute [0, 3, 1, 2]: output [128, 64, 5, 5] reading strides [1600, 1, 320, 64].
    assert.deepEqual([...stridedMeta([128, 64, 5, 5], [1600, 1, 320, 64]).subarray(0, 10)], [3, 128, 64, 25, 1600, 1, 64, 1600, 25, 1]);
    assert.deepEqual([...stridedMeta([1, 6, 1], [6, 1, 1]).subarray(0, 4)], [1, 6, 1, 1]);
    assert.deepEqual([...stridedMeta([1, 1], [0, 0]).subarray(0, 4)], [1, 1, 0, 1]);
  });

  // Every permute of small shapes with extents of 1 (dropped) and of 2 to 3 (merged where the
  // layouts allow) against the index arithmetic written out: a merge across a dimension that
  // breaks contiguity in either operand puts elements in the wrong place.
  test("permutes of random shapes equal the element-by-element definition", () =>
    fc.assert(
      fc.property(
        fc
          .array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 5 })
          .chain((shape) => fc.tuple(fc.constant(shape), fc.shuffledSubarray([...shape.keys()], { minLength: shape.length, maxLength: shape.length }))),
        ([shape, dims]) =>
          tidy(() => {
            const size = shape.reduce((a, b) => a * b, 1);
            const values = Array.from({ length: size }, (_, k) => k);
            const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
            const outShape = dims.map((d) => shape[d]!);
            const expected: number[] = [];
            for (let k = 0; k < size; k++) {
              // k's multi-index in the output, read from the input through the permuted axes.
              let rest = k,
                at = 0;
              for (let i = outShape.length - 1; i >= 0; i--) {
                at += (rest % outShape[i]!) * strides[dims[i]!]!;
                rest = Math.floor(rest / outShape[i]!);
              }
              expected.push(values[at]!);
            }
            assert.deepEqual(ops.permute(tensor(values, { shape }), dims).toArray().flat(Number.POSITIVE_INFINITY), expected);
          }),
      ),
      { numRuns: 300 },
    ));
});

describe("where and maskedFill beyond the fixtures", () => {
  test("float and bf16 conditions: nonzero is true, ±0 false, NaN true", () =>
    tidy(() => {
      const a = tensor([1, 2, 3, 4]),
        b = tensor([-1, -2, -3, -4]);
      const values = [0, -0, NaN, 0.25];
      for (const dtype of ["float32", "bfloat16", "float16"] as const) {
        assert.deepEqual(ops.where(tensor(values, { dtype }), a, b).toArray(), [-1, -2, 3, 4], dtype);
      }
    }));

  test("int32 values are selected bit for bit", () =>
    tidy(() => {
      const big = 2 ** 30 + 1;
      const out = ops.where(tensor([1, 0], { dtype: "int32" }), tensor([big, big], { dtype: "int32" }), tensor([5, 6], { dtype: "int32" }));
      assert.equal(out.dtype, "int32");
      assert.deepEqual(out.toArray(), [big, 6]);
    }));

  test("numbers as a or b take the tensor's dtype", () =>
    tidy(() => {
      const x = tensor([1, 2, 3], { dtype: "bfloat16", requiresGrad: true });
      const out = ops.where(tensor([1, 0, 1], { dtype: "int32" }), 0.5, x);
      assert.equal(out.dtype, "bfloat16");
      assert.deepEqual(out.toArray(), [0.5, 2, 0.5]);
      out.backward(tensor([1, 1, 1], { dtype: "bfloat16" }));
      assert.deepEqual(x.grad!.toArray(), [0, 1, 0]);
    }));

  test("maskedFill with -Infinity: the filled elements pass no gradient", () =>
    tidy(() => {
      const x = tensor(
        [
          [1, 2],
          [3, 4],
        ],
        { requiresGrad: true },
      );
      const mask = tensor(
        [
          [0, 1],
          [0, 0],
        ],
        { dtype: "int32" },
      );
      const out = ops.maskedFill(x, mask, -Infinity);
      assert.deepEqual(out.toArray(), [1, -Infinity, 3, 4]);
      ops.sum(ops.exp(out)).backward();
      assertClose(x.grad!, [Math.exp(1), 0, Math.exp(3), Math.exp(4)], F32, "maskedFill gradient");
    }));
});

describe("embedding beyond the fixtures", () => {
  test("large lookups and scatter-adds match a float64 reference", () =>
    tidy(() => {
      const V = 50,
        D = 96,
        n = 2048;
      const idx = Array.from({ length: n }, (_, i) => (i * 7919) % V);
      const w = Array.from({ length: V * D }, (_, i) => Math.sin(i));
      const g = Array.from({ length: n * D }, (_, i) => Math.cos(i));
      const weight = tensor(w, { shape: [V, D], requiresGrad: true });
      const out = ops.embedding(tensor(idx, { dtype: "int32", shape: [n] }), weight);
      assertClose(
        out,
        idx.flatMap((v) => w.slice(v * D, (v + 1) * D)),
        F32,
        "embedding forward",
      );
      out.backward(tensor(g, { shape: [n, D] }));
      const expected = new Float64Array(V * D);
      idx.forEach((v, i) => {
        for (let j = 0; j < D; j++) expected[v * D + j]! += Math.fround(g[i * D + j]!);
      });
      assertClose(weight.grad!, Array.from(expected), F32, "embedding backward");
    }));

  test("an out-of-range index is reported before anything is written", () => {
    const weight = new Float32Array([1, 2, 3, 4]);
    const out = new Float32Array(6).fill(9);
    assert.throws(() => kernels.embedding(0, weight, 2, 2, new Int32Array([0, 1, 2]), out), /embedding: index 2 at flat position 2/);
    assert.deepEqual([...out], [9, 9, 9, 9, 9, 9]);
    const gw = new Float32Array(4).fill(9);
    assert.throws(() => kernels.embeddingBackward(0, gw, 2, 2, new Int32Array([1, -3]), new Float32Array(4)), /embeddingBackward: index -3 at flat position 1/);
    assert.deepEqual([...gw], [9, 9, 9, 9]);
  });
});

describe("cast beyond the fixtures", () => {
  test("casts to int32 record no gradient; float casts carry it back in the input dtype", () =>
    tidy(() => {
      const x = tensor([1.5, -2.5], { requiresGrad: true });
      const asInt = ops.cast(x, "int32");
      assert.equal(asInt.requiresGrad, false);
      assert.deepEqual(asInt.toArray(), [1, -2]);
      const half = ops.cast(x, "float16");
      half.backward(tensor([0.5, 2], { dtype: "float16" }));
      assert.equal(x.grad!.dtype, "float32");
      assert.deepEqual(x.grad!.toArray(), [0.5, 2]);
    }));
});

describe("layout and indexing errors name the op and the value", () => {
  const x = (): Tensor => zeros([2, 3]);
  const cases: [string, () => unknown, RegExp][] = [
    ["transpose axis", () => ops.transpose(x(), 0, 2), /transpose: axis 2 is out of range for a tensor of rank 2/],
    ["permute repeat", () => ops.permute(x(), [1, 1]), /permute: \[1, 1\] is not a permutation of the 2 axes of \[2, 3\]/],
    ["permute length", () => ops.permute(x(), [0]), /permute: \[0\] is not a permutation/],
    ["permute axis", () => ops.permute(x(), [0, 2]), /permute: \[0, 2\] is not a permutation/],
    ["slice axis", () => ops.slice(x(), -3, 0), /slice: axis -3 is out of range/],
    ["slice step", () => ops.slice(x(), 0, 0, 2, 0), /slice: step must be an integer >= 1, got 0/],
    ["slice start", () => ops.slice(x(), 0, 0.5), /slice: start must be an integer, got 0.5/],
    ["concat extents", () => ops.concat([x(), zeros([2, 4])], 0), /concat: tensor 1 has shape \[2, 4\] but tensor 0 has \[2, 3\]; all extents but axis 0/],
    ["concat rank", () => ops.concat([x(), zeros([2, 3, 1])], 1), /concat: tensor 1 has shape \[2, 3, 1\]/],
    ["concat dtype", () => ops.concat([x(), zeros([2, 3], { dtype: "bfloat16" })]), /concat: dtypes differ: float32 \[2, 3\] and bfloat16 \[2, 3\]/],
    ["concat none", () => ops.concat([]), /concat: expected at least one tensor/],
    ["concat axis", () => ops.concat([x()], 2), /concat: axis 2 is out of range/],
    ["split sizes", () => ops.split(x(), [1, 1], 1), /split: sizes \[1, 1\] must be non-negative integers summing to 3/],
    ["split size", () => ops.split(x(), 0), /split: size must be an integer >= 1, got 0/],
    ["chunk count", () => ops.chunk(x(), 0), /chunk: chunks must be an integer >= 1, got 0/],
    ["where shapes", () => ops.where(zeros([4]), x(), x()), /where: shapes \[4\] and \[2, 3\] do not broadcast/],
    ["where dtypes", () => ops.where(zeros([3]), x(), zeros([3], { dtype: "float16" })), /where: dtypes differ/],
    ["where numbers", () => ops.where(x(), 1, 2), /where: a and b are both numbers \(1, 2\)/],
    ["maskedFill mask", () => ops.maskedFill(zeros([3]), x(), 0), /maskedFill: mask \[2, 3\] does not broadcast to x \[3\]/],
    [
      "embedding range",
      () => ops.embedding(tensor([0, 5], { dtype: "int32" }), zeros([5, 2])),
      /embedding: index 5 at flat position 1 is out of range \[0, 5\)/,
    ],
    ["embedding negative", () => ops.embedding(tensor([[0], [-1]], { dtype: "int32" }), zeros([5, 2])), /embedding: index -1 at flat position 1/],
    ["embedding float indices", () => ops.embedding(tensor([0, 1]), zeros([5, 2])), /embedding: indices must be int32, got float32 \[2\]/],
    ["embedding weight rank", () => ops.embedding(tensor([0], { dtype: "int32" }), zeros([5])), /embedding: weight \[5\] must be 2-D/],
    [
      "embedding int weight",
      () => ops.embedding(tensor([0], { dtype: "int32" }), zeros([5, 2], { dtype: "int32" })),
      /embedding: expected a floating tensor, got int32/,
    ],
    ["cast dtype", () => ops.cast(x(), "float64" as never), /cast: unknown dtype "float64"/],
  ];
  for (const [name, fn, message] of cases) test(name, () => tidy(() => assert.throws(fn, message)));
});
