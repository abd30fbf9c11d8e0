/**
 * Padded operands (src/ops/padded_operands.ts): each product of the mlp and gpt workloads whose
 * operand rows are a multiple of 1 KiB, timed on the native kernel with each padding (none, A,
 * B, both: the operand copied into rows 64 bytes longer first, the copy included), the paddings
 * taking turns call by call. Prints the median ms per call and GFLOP/s of each, the fastest (what
 * the kernel tuning should choose on this CPU) and unpadded / fastest.
 *
 *   npx tsc -p . && node dist/bench/padding.js [--threads N] [--rounds N] [--dtypes f32,bf16] [--json]
 */
import { kernels } from "../src/backends/index.js";
import { gemmMeta, type Gemm } from "../src/ops/matmul.js";
import type { Pads } from "../src/ops/padded_operands.js";
import { cast } from "../src/ops/cast.js";
import { randn } from "../src/tensor/random.js";
import { alternatingSeconds, benchOptions, median, report } from "./harness.js";

const { ints, lists, json } = benchOptions("padding", { rounds: 7 }, { dtypes: ["f32", "bf16"] });

const GPT_ROWS = 32 * 128;
const MLP_ROWS = 256;
/** [workload and product, M, N, K, transA, transB]: forward x·Wᵀ, dX = dY·W, dW = dYᵀ·X. */
const PRODUCTS: [string, number, number, number, boolean, boolean][] = [
  ["mlp fc2 forward", MLP_ROWS, 1024, 1024, false, true],
  ["mlp fc2 dX", MLP_ROWS, 1024, 1024, false, false],
  ["mlp fc2 dW", 1024, 1024, MLP_ROWS, true, false],
  ["mlp fc1 dW", 1024, 784, MLP_ROWS, true, false],
  ["gpt qkv dX", GPT_ROWS, 256, 768, false, false],
  ["gpt qkv dW", 768, 256, GPT_ROWS, true, false],
  ["gpt proj dX", GPT_ROWS, 256, 256, false, false],
  ["gpt proj dW", 256, 256, GPT_ROWS, true, false],
  ["gpt fc1 dX", GPT_ROWS, 256, 1024, false, false],
  ["gpt fc1 dW", 1024, 256, GPT_ROWS, true, false],
  ["gpt fc2 forward", GPT_ROWS, 256, 1024, false, true],
  ["gpt fc2 dX", GPT_ROWS, 1024, 256, false, false],
  ["gpt fc2 dW", 256, 1024, GPT_ROWS, true, false],
];
const PADDINGS: [string, Pads][] = [
  ["none", { a: false, b: false }],
  ["a", { a: true, b: false }],
  ["b", { a: false, b: true }],
  ["ab", { a: true, b: true }],
];

const rows: Record<string, unknown>[] = [];
for (const name of lists.dtypes!) {
  const dtype = name === "f32" ? "float32" : "bfloat16";
  for (const [product, m, n, k, transA, transB] of PRODUCTS) {
    const g: Gemm = { batchA: 1, batchB: 1, m, n, k, transA, transB };
    const a = cast(randn(transA ? [k, m] : [m, k]), dtype);
    const b = cast(randn(transB ? [n, k] : [k, n]), dtype);
    const c = new Float32Array(m * n);
    const metas = PADDINGS.map(([, pads]) => gemmMeta(g, pads).slice());
    const run = (i: number) => kernels.matmul(a.data, b.data, c, null, dtype === "float32" ? 0 : 1, 0, metas[i]!);
    for (let i = 0; i < PADDINGS.length; i++) run(i);
    const times = alternatingSeconds(PADDINGS.length, ints.rounds, run);
    const ms = times.map((t) => median(t) * 1e3);
    const best = Math.min(...ms);
    const row: Record<string, unknown> = { dtype: name, product, shape: `${m}x${n}x${k} ${transA ? "T" : "N"}${transB ? "T" : "N"}` };
    PADDINGS.forEach(([label], i) => {
      row[label] = ms[i];
      row[`${label}GF`] = (2 * m * n * k) / (ms[i]! / 1e3) / 1e9;
    });
    row.fastest = PADDINGS[ms.indexOf(best)]![0];
    row.gain = ms[0]! / best;
    rows.push(row);
  }
}
report(
  rows,
  [
    ["dtype", "dtype"],
    ["product", "product"],
    ["shape", "M×N×K op"],
    ...(PADDINGS.flatMap(([label]) => [
      [label, `${label} ms`],
      [`${label}GF`, "GFLOP/s"],
    ]) as [string, string][]),
    ["fastest", "fastest"],
    ["gain", "none / best"],
  ],
  json,
);
