/**
 * A channels-last float32 convolution's weight gradient two ways (src/ops/conv.ts measures which
 * one a shape runs): oneDNN's backward-weights kernel (its reorders of x and dy to a blocked
 * layout included) and patch copies with matrix products (native/conv_weights_gemm.cc), taking
 * turns call by call, which goes first alternating by round. Shapes: the cnn workload's second
 * convolution, and two padded 3×3 layers of a ResNet-like net (one strided). Prints the median ms
 * per call (and the range over the rounds), GFLOP/s, and oneDNN / products.
 *
 *   npx tsc -p . && node dist/bench/conv_weights.js [--threads N] [--rounds N] [--json]
 */
import { kernels } from "../src/backends/index.js";
import { convAttrs } from "../src/ops/conv.js";
import { randn } from "../src/tensor/random.js";
import { alternatingSeconds, benchOptions, median, report } from "./harness.js";

const { ints, json } = benchOptions("conv_weights", { rounds: 15 });

/** [name, N, H, W, C, O, k, stride, padding] */
const SHAPES: [string, number, number, number, number, number, number, number, number][] = [
  ["cnn conv2", 128, 13, 13, 32, 64, 3, 1, 0],
  ["3x3 64->64, 28x28", 32, 28, 28, 64, 64, 3, 1, 1],
  ["3x3 64->128 stride 2, 56x56", 32, 56, 56, 64, 128, 3, 2, 1],
];
const KERNELS = ["conv2dBackwardWeights", "conv2dBackwardWeightsGemm"] as const;

const rows: Record<string, unknown>[] = [];
for (const [name, n, h, w, c, o, k, stride, padding] of SHAPES) {
  const x = randn([n, h, w, c]),
    weight = randn([o, c, k, k]);
  const { meta, outShape } = convAttrs("conv2d", x, weight, null, { layout: "nhwc", stride, padding });
  const dy = randn(outShape);
  const dw = new Float32Array(weight.size),
    dbias = new Float32Array(o);
  const run = (i: number) => kernels[KERNELS[i]!](x.data, dy.data, dw, dbias, 0, 0, meta);
  for (let i = 0; i < KERNELS.length; i++) for (let warm = 0; warm < 3; warm++) run(i);
  const times = alternatingSeconds(KERNELS.length, ints.rounds, run).map((seconds) => seconds.map((t) => t * 1e3));
  const flops = 2 * dy.size * c * k * k;
  const [onednn, products] = times.map((t) => median(t));
  const range = (t: number[]) => `${Math.min(...t).toFixed(2)}-${Math.max(...t).toFixed(2)}`;
  rows.push({
    shape: name,
    onednn,
    onednnRange: range(times[0]!),
    onednnGF: flops / (onednn! / 1e3) / 1e9,
    products,
    productsRange: range(times[1]!),
    productsGF: flops / (products! / 1e3) / 1e9,
    ratio: onednn! / products!,
  });
}
report(
  rows,
  [
    ["shape", "shape (NHWC, f32)"],
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
