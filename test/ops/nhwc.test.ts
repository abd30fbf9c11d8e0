import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { conv2d, type Conv2dOptions } from "../../src/ops/conv.js";
import { copyOf } from "../../src/ops/inplace.js";
import { permute } from "../../src/ops/layout.js";
import { avgPool2d, maxPool2d } from "../../src/ops/pool.js";
import { mul } from "../../src/ops/binary.js";
import { sum } from "../../src/ops/reduce.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { assertClose, BF16 } from "../helpers/compare.js";
import { gradcheck } from "../helpers/gradcheck.js";

// NHWC kernels are checked against the NCHW ones, which the PyTorch fixtures check: the same
// values and gradients for the same data, whatever the layout.

const toNHWC = (t: Tensor): Tensor => permute(t, [0, 2, 3, 1]);
const toNCHW = (t: Tensor): Tensor => permute(t, [0, 3, 1, 2]);
const TOL = { rtol: 1e-5, floor: 1e-6 };

/** Runs op on x (NCHW) and on its NHWC copy; compares outputs and the gradients of every input. */
function sameInBothLayouts(
  op: (x: Tensor, layout: "nchw" | "nhwc", extra: Tensor[]) => Tensor,
  xShape: number[],
  extraShapes: number[][] = [],
  dtype: "float32" | "bfloat16" = "float32",
): void {
  tidy(() => {
    const base = randn(xShape, { dtype });
    const extras = extraShapes.map((s) => randn(s, { dtype }));
    const run = (layout: "nchw" | "nhwc") => {
      const x = layout === "nchw" ? copyOf(base) : toNHWC(base);
      const params = extras.map(copyOf);
      for (const t of [x, ...params]) t.requiresGrad = true;
      const y = op(x, layout, params);
      const yNCHW = layout === "nchw" ? y : toNCHW(y);
      const g = randn(yNCHW.shape, { dtype });
      manualSeed(0);
      sum(mul(yNCHW, g)).backward();
      return { y: yNCHW.toArray(), dx: (layout === "nchw" ? x.grad! : toNCHW(x.grad!)).toArray(), dp: params.map((p) => p.grad!.toArray()) };
    };
    manualSeed(11);
    const a = run("nchw");
    manualSeed(11);
    const b = run("nhwc");
    const tol = dtype === "bfloat16" ? BF16 : TOL;
    assertClose(b.y, a.y, tol, "output");
    assertClose(b.dx, a.dx, tol, "input gradient");
    b.dp.forEach((d, i) => assertClose(d, a.dp[i]!, tol, `parameter ${i} gradient`));
  });
}

describe("conv2d in NHWC equals conv2d in NCHW", () => {
  const cases: [string, number[], number[], Conv2dOptions, boolean][] = [
    ["3x3 with bias", [2, 4, 9, 8], [6, 4, 3, 3], {}, true],
    ["stride 2, padding 1", [3, 5, 10, 11], [8, 5, 3, 3], { stride: 2, padding: 1 }, true],
    ["dilation 2, no bias", [2, 3, 12, 12], [4, 3, 3, 3], { dilation: 2 }, false],
    ["groups 2", [2, 6, 7, 7], [4, 3, 3, 3], { groups: 2 }, true],
    ["one input channel (the cnn's first layer)", [4, 1, 28, 28], [32, 1, 3, 3], {}, true],
    // Few input channels and 16·k outputs take the direct kernels (native/conv_few_channels.cc):
    // windows in the padding, taps in several groups, groups padded, strides and dilations.
    ["few channels: RGB, stride 2, padding 1", [2, 3, 11, 10], [16, 3, 3, 3], { stride: 2, padding: 1 }, true],
    ["few channels: dilation 2, padding 2, no bias", [2, 2, 9, 8], [48, 2, 3, 3], { dilation: 2, padding: 2 }, false],
    ["few channels: 5x5 on a 6x7 image, padding 2", [3, 1, 6, 7], [64, 1, 5, 5], { padding: 2 }, true],
    ["few channels: stride and padding pairs", [2, 4, 8, 9], [32, 4, 2, 3], { stride: [2, 1], padding: [0, 1] }, true],
    ["few channels: wide rows (blocks and a remainder)", [2, 1, 5, 37], [16, 1, 3, 3], {}, true],
  ];
  for (const [name, xs, ws, options, bias] of cases) {
    test(name, () => sameInBothLayouts((x, layout, [w, b]) => conv2d(x, w!, bias ? b! : null, { ...options, layout }), xs, bias ? [ws, [ws[0]!]] : [ws]));
  }
  test("bfloat16", () => {
    sameInBothLayouts((x, layout, [w]) => conv2d(x, w!, null, { layout }), [2, 4, 8, 8], [[6, 4, 3, 3]], "bfloat16");
  });
});

describe("pooling in NHWC equals pooling in NCHW", () => {
  test("max 2x2 stride 2, odd sizes", () => sameInBothLayouts((x, layout) => maxPool2d(x, 2, { layout }), [3, 32, 13, 11]));
  test("max 3x3 stride 2 padding 1 dilation", () => sameInBothLayouts((x, layout) => maxPool2d(x, 3, { stride: 2, padding: 1, layout }), [2, 5, 9, 10]));
  test("max with dilation 2", () => sameInBothLayouts((x, layout) => maxPool2d(x, 2, { dilation: 2, stride: 1, layout }), [2, 3, 7, 7]));
  test("avg 3x3 stride 1 padding 1, both divisors", () => {
    sameInBothLayouts((x, layout) => avgPool2d(x, 3, { stride: 1, padding: 1, layout }), [2, 6, 8, 9]);
    sameInBothLayouts((x, layout) => avgPool2d(x, 3, { stride: 1, padding: 1, countIncludePad: false, layout }), [2, 6, 8, 9]);
  });
  test("bfloat16", () => sameInBothLayouts((x, layout) => maxPool2d(x, 2, { layout }), [2, 16, 6, 6], [], "bfloat16"));
  test("ties go to the first maximum in both layouts", () => {
    // NHWC [1, 2, 2, 2]: channel 0 is 3 at every tap (a four-way tie), channel 1 is 1, 0, 2, 2.
    const x = tensor([3, 1, 3, 0, 3, 2, 3, 2], { shape: [1, 2, 2, 2] });
    x.requiresGrad = true;
    const y = maxPool2d(x, 2, { layout: "nhwc" });
    sum(y).backward();
    assert.deepEqual(y.toArray(), [3, 2]);
    assert.deepEqual(x.grad!.toArray(), [1, 0, 0, 0, 0, 1, 0, 0], "channel 0: the first tap; channel 1: the first 2, at (1, 0)");
  });
});

test("NHWC convolution and pooling pass the finite-difference check", () => {
  manualSeed(3);
  const x = randn([2, 6, 5, 3]),
    w = randn([4, 3, 3, 3]),
    b = randn([4]);
  const inputs = [x, w, b];
  for (const t of inputs) t.requiresGrad = true;
  const f = ([xi, wi, bi]: Tensor[]) => [maxPool2d(conv2d(xi!, wi!, bi!, { padding: 1, layout: "nhwc" }), 2, { layout: "nhwc" })];
  const out = f(inputs)[0]!;
  const g = randn(out.shape);
  sum(mul(out, g)).backward();
  gradcheck(
    f,
    inputs.map(copyOf),
    [g],
    inputs.map((t) => t.grad),
    "conv2d+maxPool2d nhwc",
  );
});

test("a bad layout is an error naming the op", () => {
  assert.throws(() => maxPool2d(randn([1, 2, 4, 4]), 2, { layout: "nwhc" as never }), /max_pool2d: layout must be "nchw" or "nhwc", got "nwhc"/);
  assert.throws(() => conv2d(randn([1, 4, 4]), randn([2, 2, 3, 3]), null, { layout: "nhwc" }), /conv2d: input \[1, 4, 4\] must be 4-D \[N, H, W, C\]/);
});
