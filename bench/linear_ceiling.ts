/**
 * The gpt workload's Linear layers alone, against the product limit `turbine bench` states its
 * GFLOP/s against: what fraction of that limit the step's products reach with nothing else
 * running and their operands hot in cache. Their FLOPs are nearly all of the step's, so the
 * whole step cannot reach a larger fraction than they do (issue 21 asks 75% in bf16).
 *
 * Each layer (qkv, proj, fc1 with its GELU, fc2 of a block, and the head; 32 × 128 rows) runs
 * forward and backward (dX, the float32 weight and bias gradients) as the step runs it: under
 * bf16 autocast with float32 master weights, or in f32. The 1024³ product (the limit) and the
 * layers take turns call by call (`alternatingSeconds`), `--calls` calls each per round. Prints
 * each layer's GFLOP/s and share of the limit (medians over all calls), and the gpt's five layers
 * weighted as one step has them (4 blocks, one head), with the range of that share over rounds
 * (from each round's medians).
 *
 *   npx tsc -p . && node dist/bench/linear_ceiling.js [--threads N] [--rounds N] [--calls N] [--dtypes f32,bf16] [--json]
 */
import { autocast } from "../src/amp/autocast.js";
import { linear, linearGelu, matmul } from "../src/ops/index.js";
import { randn } from "../src/tensor/random.js";
import { tidy } from "../src/tensor/scope.js";
import type { Tensor } from "../src/tensor/tensor.js";
import { alternatingSeconds, benchOptions, median, report, warmUp } from "./harness.js";

const { ints, lists, json } = benchOptions("linear_ceiling", { rounds: 5, calls: 20 }, { dtypes: ["bf16", "f32"] });

const ROWS = 32 * 128;
const LIMIT_SIZE = 1024;
/** [layer, in, out, with GELU, layers per step]: the gpt workload (width 256, 4 blocks, 65 symbols). */
const LAYERS: [string, number, number, boolean, number][] = [
  ["qkv", 256, 768, false, 4],
  ["proj", 256, 256, false, 4],
  ["fc1+gelu", 256, 1024, true, 4],
  ["fc2", 1024, 256, false, 4],
  ["head", 256, 65, false, 1],
];

/** A layer's forward and backward, leaving nothing behind: one call of the step's work. */
function layerCall(dtype: string, inF: number, outF: number, gelu: boolean): () => void {
  const low = dtype === "bf16";
  const x = randn([ROWS, inF], low ? { dtype: "bfloat16" } : {});
  x.requiresGrad = true;
  const weight = randn([outF, inF], { requiresGrad: true });
  const bias = randn([outF], { requiresGrad: true });
  const dy = randn([ROWS, outF], low ? { dtype: "bfloat16" } : {});
  const forward = () => (gelu ? linearGelu : linear)(x, weight, bias);
  return () =>
    tidy(() => {
      const y = low ? autocast({ dtype: "bfloat16" }, forward) : forward();
      y.backward(dy);
      for (const t of [x, weight, bias] as Tensor[]) {
        t.grad?.dispose();
        t.grad = null;
      }
    });
}

const rows: Record<string, unknown>[] = [];
for (const dtype of lists.dtypes!) {
  const a = randn([LIMIT_SIZE, LIMIT_SIZE], dtype === "bf16" ? { dtype: "bfloat16" } : {});
  const b = randn([LIMIT_SIZE, LIMIT_SIZE], dtype === "bf16" ? { dtype: "bfloat16" } : {});
  const limitCall = () => tidy(() => void matmul(a, b));
  const calls = LAYERS.map(([, inF, outF, gelu]) => layerCall(dtype, inF, outF, gelu));
  const variants = [limitCall, ...calls];
  for (const call of variants) warmUp(call);
  const times = alternatingSeconds(variants.length, ints.rounds * ints.calls, (i) => variants[i]!());
  const flopsOf = ([, inF, outF]: (typeof LAYERS)[number]) => 6 * ROWS * inF * outF;
  /** The step's Linears' share of the limit, from the medians of calls [from, to). */
  const stepShare = (from: number, to: number): number => {
    const seconds = (i: number) => median(times[i]!.slice(from, to));
    const limit = (2 * LIMIT_SIZE ** 3) / seconds(0);
    const flops = LAYERS.reduce((sum, layer) => sum + layer[4] * flopsOf(layer), 0);
    return flops / LAYERS.reduce((sum, layer, i) => sum + layer[4] * seconds(i + 1), 0) / limit;
  };
  const stepShares = Array.from({ length: ints.rounds }, (_, r) => stepShare(r * ints.calls, (r + 1) * ints.calls));
  const limit = (2 * LIMIT_SIZE ** 3) / median(times[0]!) / 1e9;
  LAYERS.forEach((layer, i) => {
    const rate = flopsOf(layer) / median(times[i + 1]!) / 1e9;
    rows.push({ dtype, layer: `${layer[0]} ×${layer[4]}`, gflops: rate.toFixed(0), share: `${((100 * rate) / limit).toFixed(0)}%` });
  });
  const [all, low, high] = [stepShare(0, ints.rounds * ints.calls), Math.min(...stepShares), Math.max(...stepShares)];
  const pct = (share: number) => `${(100 * share).toFixed(0)}%`;
  rows.push({ dtype, layer: "the step's Linears", gflops: (all * limit).toFixed(0), share: `${pct(all)} (rounds ${pct(low)}–${pct(high)})` });
  rows.push({ dtype, layer: `limit (${LIMIT_SIZE}³ product)`, gflops: limit.toFixed(0), share: "100%" });
}
report(
  rows,
  [
    ["dtype", "dtype"],
    ["layer", "layer (forward + backward)"],
    ["gflops", "GFLOP/s"],
    ["share", "of the limit"],
  ],
  json,
);
