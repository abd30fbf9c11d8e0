/**
 * A channels-last float32 convolution's forward and weight gradient two ways each (src/ops/conv.ts
 * measures which one a shape runs): oneDNN's kernels (the backward-weights one with its reorders
 * of x and dy to a blocked layout) and patch copies with matrix products (native/conv_gemm.cc),
 * taking turns call by call, which goes first alternating by round. Shapes: the cnn workload's
 * second convolution, and two padded 3×3 layers of a ResNet-like net (one strided). Prints the
 * median ms per call (and the range over the rounds), GFLOP/s, and oneDNN / products.
 *
 *   npx tsc -p . && node dist/bench/conv_products.js [--threads N] [--rounds N] [--json]
 */
import { kernels } from "../src/backends/index.js";
import { convAttrs } from "../src/ops/conv.js";
import { randn } from "../src/tensor/random.js";
import { alternatingSeconds, benchOptions, median, report } from "./harness.js";

const { ints, json } = benchOptions("conv_products", { rounds: 15 });

/** [name, N, H, W, C, O, k, stride, padding] */
const SHAPES: [string, number, number, number, number, number, number, number, number][] = [
  ["cnn conv2", 128, 13, 13, 32, 64, 3, 1, 0],
  ["3x3 64->64, 28x28", 32, 28, 28, 64, 64, 3, 1, 1],
  ["3x3 64->128 stride 2, 56x56", 32, 56, 56, 64, 128, 3, 2, 1],
];

const rows: Record<string, unknown>[] = [];
for (const [name, n, h, w, c, o, k, stride, padding] of SHAPES) {
  const x = randn([n, h, w, c]),
    weight = randn([o, c, k, k]),
    bias = randn([o]).data as Float32Array;
  const { meta, outShape } = convAttrs("conv2d", x, weight, null, { layout: "nhwc", stride, padding });
  const dy = randn(outShape);
  const y = new Float32Array(dy.size),
    dw = new Float32Array(weight.size),
    dbias = new Float32Array(o);
  const passes: [string, (products: boolean) => void][] = [
    ["forward", (products) => (products ? kernels.conv2dGemm : kernels.conv2d)(x.data, weight.data, bias, y, 0, meta)],
    ["weight gradient", (products) => (products ? kernels.conv2dBackwardWeightsGemm : kernels.conv2dBackwardWeights)(x.data, dy.data, dw, dbias, 0, 0, meta)],
  ];
  const flops = 2 * dy.size * c * k * k;
  for (const [pass, run] of passes) {
    const variant = (i: number) => run(i === 1);
    for (let warm = 0; warm < 3; warm++) for (let i = 0; i < 2; i++) variant(i);
    const [onednn, products] = alternatingSeconds(2, ints.rounds, variant).map((seconds) => seconds.map((t) => t * 1e3));
    const range = (t: number[]) => `${Math.min(...t).toFixed(2)}-${Math.max(...t).toFixed(2)}`;
    const [a, b] = [median(onednn!), median(products!)];
    rows.push({
      shape: name,
      pass,
      onednn: a,
      onednnRange: range(onednn!),
      onednnGF: flops / (a / 1e3) / 1e9,
      products: b,
      productsRange: range(products!),
      productsGF: flops / (b / 1e3) / 1e9,
      ratio: a / b,
    });
  }
}
report(
  rows,
  [
    ["shape", "shape (NHWC, f32)"],
    ["pass", "pass"],
    ["onednn", "oneDNN ms"],
    ["onednnRange", "range"],
    ["onednnGF", "GFLOP/s"],
    ["products", "products ms"],
    ["productsRange", "range"],
    ["productsGF", "GFLOP/s"],
    ["ratio", "oneDNN / products"],
  ],
  json,
);
