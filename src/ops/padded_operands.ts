/**
 * Which operands of a product to copy into longer rows before it runs. A stored row a multiple
 * of 1 or 2 KiB long puts the rows a kernel reads together into the same few cache sets: on Zen 3
 * (AVX2), oneDNN 2.6's f32 products with such an operand ran at 65–110 GFLOP/s against 120–180
 * with its rows 64 bytes longer (the mlp's 1024-wide layer, the gpt's 1024-wide MLP and its
 * weight gradients over 4096 rows; 1 KiB rows, the gpt's width 256, lose 5–20%). Whether the copy pays is the CPU's to say, so it is measured
 * the first time a shape runs (`tunedChoice`, cached per CPU model) instead of decided by a rule.
 * The product is the same up to the rounding of its sums: only the layout oneDNN reads changes,
 * but oneDNN may pick another kernel (another summation order) for the longer rows, as on Zen 5.
 */
import { tunedChoice } from "../backends/native/kernel_tuning.js";
import { DTYPES, type DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Gemm } from "./matmul.js";
import { dt } from "./util.js";

/** An operand is a candidate when its stored rows are a multiple of this many bytes. */
const CONFLICTING_ROW_BYTES = 1024;
/** Nor when it is smaller than this: its product is too short for a copy to gain what the measurement costs. */
const MIN_OPERAND_BYTES = 1 << 20;

/** Whether to pad A and B. */
export interface Pads {
  readonly a: boolean;
  readonly b: boolean;
}

/** No operand padded: the kernels' layout as the tensors store it. */
export const NO_PADS: Pads = { a: false, b: false };

const CHOICES: Readonly<Record<string, Pads>> = {
  none: NO_PADS,
  a: { a: true, b: false },
  b: { a: false, b: true },
  ab: { a: true, b: true },
};

/** Whether an operand of `batch` matrices stored as rows × rowLength elements of dtype is a candidate. */
function conflicting(batch: number, rows: number, rowLength: number, dtype: DType): boolean {
  const rowBytes = rowLength * DTYPES[dtype].bytes;
  return rowBytes % CONFLICTING_ROW_BYTES === 0 && batch * rows * rowBytes >= MIN_OPERAND_BYTES;
}

/**
 * The operands of C = op(A)·op(B) (+ bias) to pad: none unless an operand's rows are a multiple
 * of 1 KiB and it is at least 1 MiB, then the fastest of the candidates, measured once per
 * shape on this CPU with these operands (into a scratch output). A product with varying extents
 * (an expert's rows) is measured once for every value of them, on the first call's operands;
 * only an operand whose stored rows keep their length can be padded there (the kernel needs it).
 * `meta(pads)` packs the product's kernel meta with those pads.
 * @example const pads = paddedOperands(x, w, g, bias, "float32", (p) => gemmMeta(g, p));
 */
export function paddedOperands(a: Tensor, b: Tensor, g: Gemm, bias: Tensor | null, outDType: DType, meta: (pads: Pads) => Int32Array): Pads {
  const v = g.varying ?? {};
  const padA = !v[g.transA ? "m" : "k"] && conflicting(g.batchA, g.transA ? g.k : g.m, g.transA ? g.m : g.k, a.dtype);
  const padB = !v[g.transB ? "k" : "n"] && conflicting(g.batchB, g.transB ? g.n : g.k, g.transB ? g.k : g.n, b.dtype);
  if (!padA && !padB) return NO_PADS;
  const candidates = ["none", ...(padA ? ["a"] : []), ...(padB ? ["b"] : []), ...(padA && padB ? ["ab"] : [])];
  const extent = (e: "m" | "n" | "k"): string => (v[e] ? "*" : String(g[e]));
  // A varying product's candidates depend on this call's sizes: they are part of its key, so a
  // call with fewer does not measure the product again over the stored choice.
  const family = v.m || v.n || v.k ? ` [${candidates.join(" ")}]` : "";
  const shape = `${a.dtype}>${outDType} ${g.batchA}/${g.batchB}x${extent("m")}x${extent("n")}x${extent("k")} ${g.transA ? "T" : "N"}${g.transB ? "T" : "N"}${bias ? " bias" : ""}${family}`;
  let scratch: Tensor["data"] | null = null;
  const choice = tunedChoice("matmul padding", shape, candidates, (native, candidate) => {
    scratch ??= new DTYPES[outDType].array(Math.max(g.batchA, g.batchB) * g.m * g.n);
    native.matmul(a.data, b.data, scratch, (bias?.data as Float32Array | undefined) ?? null, dt(a.dtype), dt(outDType), meta(CHOICES[candidate]!).slice());
  });
  return CHOICES[choice]!;
}
