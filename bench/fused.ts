/**
 * The fused kernels against the unfused ops they replace, at the gpt workload's shapes (batch
 * 32 × context 128 = 4096 rows, width 256), forward and backward, each pair interleaved batch by
 * batch so machine noise hits both alike:
 *
 *   linearGelu   fc + GELU of the MLP (256 → 1024): linearGelu against gelu(linear()), f32 and
 *                bf16 (bf16 operands; f32 bias)
 *   addLayerNorm the residual add and ln2 (the stream f32, the branch f32 or bf16, the norm
 *                into the same dtype as the branch): addLayerNorm against add then layerNorm
 *   adamw        AdamW over the gpt's parameters (65-character vocabulary, 4 blocks, 3.2M
 *                parameters): one multi-tensor call against one adamStep call per parameter
 *   lamb         LAMB over the same parameters: the native lambStepMulti against the float64
 *                TypeScript loop it replaced (the js backend's kernel)
 *   attention    causalSelfAttention of the gpt (qkv [32, 128, 768], 4 heads of 64), forward +
 *                backward: bf16 inputs (AMX tiles on a CPU with AMX, else bf16 dot products on
 *                one with AVX512_BF16; TURBINE_NO_AMX=1 takes the dot products) against f32
 *                inputs (f32 products; bf16 inputs took these before the dot products)
 *
 * The figure per case is the median over --batches batches of --calls calls of (batch time /
 * calls), in ms, and unfused / fused (above 1: the fused side is faster).
 *
 *   npx tsc -p . && node dist/bench/fused.js [--threads N] [--calls N] [--batches N] [--json]
 */
import { GPT } from "../src/models/gpt.js";
import { kernels } from "../src/backends/index.js";
import { lambStepMulti as jsLambStepMulti } from "../src/backends/js/optimizer_steps.js";
import { add, addLayerNorm, cast, causalSelfAttention, gelu, layerNorm, linear, linearGelu, mul, sum } from "../src/ops/index.js";
import { adamStepInPlace, adamStepsInPlace } from "../src/ops/optimizer_kernels.js";
import { zeros } from "../src/tensor/create.js";
import type { DType } from "../src/tensor/dtype.js";
import { manualSeed, randn } from "../src/tensor/random.js";
import { tidy } from "../src/tensor/scope.js";
import type { Tensor } from "../src/tensor/tensor.js";
import { benchOptions, median, report, secondsPerCall } from "./harness.js";

interface Pair {
  name: string;
  what: string;
  fused: () => void;
  unfused: () => void;
}

const ROWS = 32 * 128;
const WIDTH = 256;

function leaf(t: Tensor): Tensor {
  t.requiresGrad = true;
  t.kept = true;
  return t;
}

/** fn's outputs' weighted sum, then backward (the leaves' gradients dropped), in one scope. */
function forwardBackward(fn: () => Tensor[], leaves: Tensor[]): void {
  tidy(() => {
    const outs = fn();
    outs
      .map((o) => sum(mul(cast(o, "float32"), 1e-3)))
      .reduce((a, b) => add(a, b))
      .backward();
  });
  for (const t of leaves) {
    t.grad?.dispose();
    t.grad = null;
  }
}

function linearGeluPair(dtype: DType): Pair {
  const x = leaf(cast(randn([ROWS, WIDTH]), dtype));
  const w = leaf(cast(mul(randn([4 * WIDTH, WIDTH]), 0.02), dtype));
  const b = leaf(zeros([4 * WIDTH]));
  return {
    name: `linearGelu ${dtype}`,
    what: `[${ROWS}, ${WIDTH}] → ${4 * WIDTH}, forward + backward`,
    fused: () => forwardBackward(() => [linearGelu(x, w, b)], [x, w, b]),
    unfused: () => forwardBackward(() => [gelu(linear(x, w, b))], [x, w, b]),
  };
}

function addLayerNormPair(branch: DType): Pair {
  const x = leaf(randn([ROWS, WIDTH]));
  const r = leaf(cast(randn([ROWS, WIDTH]), branch));
  const [w, b] = [leaf(randn([WIDTH])), leaf(zeros([WIDTH]))];
  return {
    name: `addLayerNorm ${branch} branch`,
    what: `[${ROWS}, ${WIDTH}] f32 stream, norm into ${branch}, forward + backward`,
    fused: () => forwardBackward(() => addLayerNorm(x, r, [WIDTH], w, b, 1e-5, branch), [x, r, w, b]),
    unfused: () =>
      forwardBackward(() => {
        const s = add(x, branch === "float32" ? r : cast(r, "float32"));
        return [s, layerNorm(s, [WIDTH], w, b, 1e-5, branch)];
      }, [x, r, w, b]),
  };
}

function adamwPair(): Pair {
  const params = new GPT({ vocabSize: 65, context: 128, layers: 4, heads: 4, width: WIDTH }).parameters();
  const state = params.map((p) => ({ p, grad: mul(randn(p.shape), 1e-3), expAvg: zeros(p.shape), expAvgSq: zeros(p.shape), low: null }));
  for (const s of state) for (const t of [s.grad, s.expAvg, s.expAvgSq]) t.kept = true;
  const hyper = Float64Array.from(state.flatMap(() => [1e-6, 0.9, 0.99, 1e-8, 0.1, 1, 1]));
  const row = hyper.subarray(0, 7);
  return {
    name: "adamw",
    what: `gpt's ${params.length} parameters (${params.reduce((n, p) => n + p.size, 0)} elements)`,
    fused: () => adamStepsInPlace(state, hyper),
    unfused: () => {
      for (const s of state) adamStepInPlace(s.p, s.grad, s.expAvg, s.expAvgSq, null, row);
    },
  };
}

function lambPair(): Pair {
  const params = new GPT({ vocabSize: 65, context: 128, layers: 4, heads: 4, width: WIDTH }).parameters();
  const arrays = (scale: number) => params.map((p) => Float32Array.from({ length: p.size }, () => scale * Math.random()));
  const [ws, gs, ms, vs] = [params.map((p) => p.data as Float32Array), arrays(1e-3), arrays(0), arrays(0)];
  const hyper = Float64Array.from(params.flatMap(() => [1e-6, 0.9, 0.999, 1e-6, 0.01, 1]));
  return {
    name: "lamb",
    what: `gpt's ${params.length} parameters, one call`,
    fused: () => kernels.lambStepMulti(ws, gs, ms, vs, hyper),
    unfused: () => jsLambStepMulti(ws, gs, ms, vs, hyper),
  };
}

function attentionPair(): Pair {
  const qkv = (dtype: DType) => leaf(cast(randn([32, 128, 3 * WIDTH]), dtype));
  const [low, wide] = [qkv("bfloat16"), qkv("float32")];
  return {
    name: "attention bf16 vs f32",
    what: "causalSelfAttention [32, 128, 768], 4 heads: bf16 (fused column) against f32 inputs",
    fused: () => forwardBackward(() => [causalSelfAttention(low, 4)], [low]),
    unfused: () => forwardBackward(() => [causalSelfAttention(wide, 4)], [wide]),
  };
}

/** Milliseconds per call over one batch. */
function batch(call: () => void, calls: number): number {
  return secondsPerCall(call, calls) * 1e3;
}

function main(): void {
  const { threads, json, ints } = benchOptions("fused", { calls: 5, batches: 9 });
  manualSeed(0);
  const pairs = [
    linearGeluPair("float32"),
    linearGeluPair("bfloat16"),
    addLayerNormPair("float32"),
    addLayerNormPair("bfloat16"),
    adamwPair(),
    lambPair(),
    attentionPair(),
  ];
  const rows = pairs.map((pair) => {
    batch(pair.fused, ints.calls);
    batch(pair.unfused, ints.calls);
    const times = { fused: [] as number[], unfused: [] as number[] };
    for (let i = 0; i < ints.batches; i++) {
      // The side that goes first alternates.
      const order = i % 2 === 0 ? (["fused", "unfused"] as const) : (["unfused", "fused"] as const);
      for (const side of order) times[side].push(batch(pair[side], ints.calls));
    }
    const [fused, unfused] = [median(times.fused), median(times.unfused)];
    return { case: pair.name, what: pair.what, threads, fusedMs: fused, unfusedMs: unfused, speedup: unfused / fused };
  });
  if (!json) console.log(`fused against unfused, median ms per call over ${ints.batches} batches of ${ints.calls} calls (${threads} thread(s))`);
  report(
    rows,
    [
      ["case", "case"],
      ["what", "what"],
      ["fusedMs", "fused ms"],
      ["unfusedMs", "unfused ms"],
      ["speedup", "unfused / fused"],
    ],
    json,
  );
}

main();
