import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { mul } from "../../src/ops/binary.js";
import { conv2d, type Conv2dOptions } from "../../src/ops/conv.js";
import { conv2dMaxPool } from "../../src/ops/conv_pool.js";
import { copyOf } from "../../src/ops/inplace.js";
import { maxPool2d } from "../../src/ops/pool.js";
import { sum } from "../../src/ops/reduce.js";
import { zeros } from "../../src/tensor/create.js";
import { kernels } from "../../src/backends/index.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { assertClose } from "../helpers/compare.js";
import { countOps } from "../helpers/op_counts.js";

// conv2dMaxPool against the two ops it stands for, conv2d then maxPool2d (which the PyTorch
// fixtures and the NHWC tests check): the same pooled values, and the same weight and bias
// gradients up to the order of the sums.

interface Run {
  y: number[];
  dw: number[];
  db: number[] | null;
  dx: number[] | null;
  ops: Map<string, number>;
}

function run(fused: boolean, x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions, inputGrad = false): Run {
  return tidy(() => {
    const [xi, wi, bi] = [copyOf(x), copyOf(w), b ? copyOf(b) : null];
    for (const t of [wi, bi]) if (t) t.requiresGrad = true;
    xi.requiresGrad = inputGrad;
    let y: Tensor | null = null;
    const ops = countOps(() => {
      y = fused ? conv2dMaxPool(xi, wi, bi, options) : maxPool2d(conv2d(xi, wi, bi, options), 2, { layout: "nhwc" });
    });
    manualSeed(5);
    sum(mul(y!, randn(y!.shape))).backward();
    return { y: y!.toArray(), dw: wi.grad!.toArray(), db: bi ? bi.grad!.toArray() : null, dx: inputGrad ? xi.grad!.toArray() : null, ops };
  });
}

function compare(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions = {}): Run {
  const nhwc = { ...options, layout: "nhwc" as const };
  const fused = run(true, x, w, b, nhwc);
  const plain = run(false, x, w, b, nhwc);
  assert.deepEqual(fused.y, plain.y, "pooled output");
  assertClose(fused.dw, plain.dw, { rtol: 1e-5, floor: 1e-5 }, "weight gradient");
  if (b) assertClose(fused.db!, plain.db!, { rtol: 1e-5, floor: 1e-5 }, "bias gradient");
  return fused;
}

describe("conv2dMaxPool equals conv2d then maxPool2d", () => {
  const cases: [string, number[], number[], Conv2dOptions, boolean][] = [
    ["the cnn's first layer", [4, 28, 28, 1], [32, 1, 3, 3], {}, true],
    ["odd convolution output: the last row and column go unpooled", [2, 9, 10, 1], [16, 1, 3, 3], {}, true],
    ["RGB, padding 1, stride 2", [2, 15, 13, 3], [48, 3, 3, 3], { padding: 1, stride: 2 }, false],
    ["64 outputs, 5x5, padding 2, dilation pairs", [2, 12, 11, 2], [64, 2, 5, 5], { padding: 2, dilation: [1, 2] }, true],
    ["wide rows: blocks of pooled pixels and a remainder", [1, 6, 41, 4], [16, 4, 3, 3], {}, true],
  ];
  for (const [name, xs, ws, options, bias] of cases) {
    test(name, () => {
      manualSeed(7);
      const fused = compare(randn(xs), randn(ws), bias ? randn([ws[0]!]) : null, options);
      assert.equal(fused.ops.get("conv2dMaxPool"), 1, "the fused op ran");
      assert.equal(fused.ops.get("conv2d"), undefined, "no separate convolution");
    });
  }

  test("ties go to the first position of the window, as maxPool2d's", () => {
    // Zero weights: every convolution output is the bias, so each window is a four-way tie, and
    // the weight gradient depends on which position takes the window's gradient.
    manualSeed(4);
    const fused = compare(randn([2, 8, 8, 1]), zeros([16, 1, 3, 3]), randn([16]));
    assert.ok(fused.dw.some((v) => v !== 0));
  });

  test("a NaN in the input wins its windows, as in maxPool2d", () => {
    const x = randn([1, 8, 8, 1]);
    x.data[3 * 8 + 4] = NaN;
    const fused = run(true, x, randn([16, 1, 3, 3]), null, { layout: "nhwc" });
    assert.ok(fused.y.some(Number.isNaN));
  });
});

describe("conv2dMaxPool runs the two ops where its kernels do not apply", () => {
  test("an input that needs its gradient", () => {
    manualSeed(2);
    const [x, w, b] = [randn([2, 10, 10, 1]), randn([16, 1, 3, 3]), randn([16])];
    const fused = run(true, x, w, b, { layout: "nhwc" }, true);
    const plain = run(false, x, w, b, { layout: "nhwc" }, true);
    assert.equal(fused.ops.get("conv2dMaxPool"), undefined);
    assert.deepEqual(fused.dx, plain.dx);
  });

  test("NCHW, many input channels, or 8 outputs", () => {
    for (const [xs, ws, layout] of [
      [[2, 1, 8, 8], [16, 1, 3, 3], "nchw"],
      [[2, 8, 8, 8], [16, 8, 3, 3], "nhwc"],
      [[2, 8, 8, 1], [8, 1, 3, 3], "nhwc"],
    ] as const) {
      const ops = countOps(() => tidy(() => conv2dMaxPool(randn([...xs]), randn([...ws]), null, { layout })));
      assert.deepEqual([ops.get("conv2d"), ops.get("max_pool2d"), ops.get("conv2dMaxPool")], [1, 1, undefined], `${xs} ${ws} ${layout}`);
    }
  });

  test("the native kernel refuses a convolution it does not take, naming it", () => {
    const meta = Int32Array.from([2, 8, 8, 8, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1]);
    const [x, w, y] = [new Float32Array(2 * 8 * 8 * 8), new Float32Array(16 * 8 * 9), new Float32Array(2 * 3 * 3 * 16)];
    assert.equal(kernels.conv2dDirectFits(0, meta), false);
    assert.throws(
      () => kernels.conv2dMaxPool(x, w, null, y, null, meta),
      /conv2dMaxPool: needs a float32 channels-last convolution .* at most 4 input channels .*input \[2, 8, 8, 8\]/,
    );
  });
});
