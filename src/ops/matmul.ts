import { apply1, type OpDef } from "../autograd/op.js";
import { isFloating, type DType } from "../tensor/dtype.js";
import { hostWrites } from "../tensor/host_write.js";
import { lowCopy } from "../tensor/low_copy.js";
import { kernels, metaFields } from "../backends/index.js";
import { formatShape, sameShape, sizeOf } from "../tensor/shape.js";
import { tidy } from "../tensor/scope.js";
import { Tensor } from "../tensor/tensor.js";
import { autocastLowDType, withoutAutocast } from "./autocast_hook.js";
import { broadcastShapes } from "./broadcast.js";
import { cast } from "./cast.js";
import { NO_PADS, paddedOperands, type Pads } from "./padded_operands.js";
import { expand, reshape } from "./view.js";
import { sumInFloat32, sumTo } from "./reduce.js";
import type { OpName } from "./registry.js";
import { dt, requireFloat, requireSameDType } from "./util.js";

/** Matrix products on oneDNN: matmul (batched, broadcast) and linear (x·Wᵀ + b, fused bias). */

/** A product's shape for the kernel: op(A) [batchA, m, k] · op(B) [batchB, k, n], op() transposing through strides. */
export interface Gemm {
  batchA: number;
  batchB: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  /**
   * Extents that change from call to call (a mixture-of-experts expert's rows): the native
   * backend serves every value of them with one oneDNN primitive instead of building one per
   * value. The product is the same; its rounding may differ in the last bits from a fixed shape's.
   */
  varying?: Partial<Record<Extent, boolean>>;
}

/** One of a product's extents: op(A) is [m, k], op(B) [k, n]. */
export type Extent = "m" | "n" | "k";

/** The varying extents of a product whose m, n and k are g's extents `m`, `n` and `k`. */
function varyingAs(g: Gemm, m: Extent, n: Extent, k: Extent): Gemm["varying"] {
  const v = g.varying;
  return v && { m: v[m], n: v[n], k: v[k] };
}

// Reused by every product: the tiny-op path allocates no meta.
const meta = new Int32Array(metaFields.matmul.count);
const MM = metaFields.matmul.fields;

/**
 * The kernel's packed meta of g with `pads` (a shared array, valid until the next call).
 * @example kernels.matmul(a.data, b.data, c.data, null, 0, 0, gemmMeta(g));
 */
export function gemmMeta(g: Gemm, pads: Pads = NO_PADS): Int32Array {
  meta[MM.batchA] = g.batchA;
  meta[MM.batchB] = g.batchB;
  meta[MM.m] = g.m;
  meta[MM.n] = g.n;
  meta[MM.k] = g.k;
  meta[MM.transA] = g.transA ? 1 : 0;
  meta[MM.transB] = g.transB ? 1 : 0;
  meta[MM.accumulate] = 0;
  meta[MM.runtimeM] = g.varying?.m ? 1 : 0;
  meta[MM.runtimeN] = g.varying?.n ? 1 : 0;
  meta[MM.runtimeK] = g.varying?.k ? 1 : 0;
  meta[MM.padA] = pads.a ? 1 : 0;
  meta[MM.padB] = pads.b ? 1 : 0;
  return meta;
}

/**
 * C = op(A)·op(B) (+ bias) into a new [max(batchA, batchB), M, N] tensor, op() transposing
 * through strides.
 * @example const c = gemm(a, b, { batchA: 1, batchB: 1, m: 2, n: 3, k: 4, transA: false, transB: true });
 */
export function gemm(a: Tensor, b: Tensor, g: Gemm, bias: Tensor | null = null, outDType: DType = a.dtype): Tensor {
  const batch = Math.max(g.batchA, g.batchB);
  const out = Tensor.empty([batch, g.m, g.n], outDType);
  if (out.size === 0) return out;
  if (g.k === 0) {
    // An empty contraction: zeros, plus the bias on every row.
    out.data.fill(0);
    if (bias) for (let r = 0; r < batch * g.m; r++) (out.data as Float32Array).set(bias.data as Float32Array, r * g.n);
    hostWrites()?.set(out.data, out.data);
    return out;
  }
  const pads = paddedOperands(a, b, g, bias, outDType, (p) => gemmMeta(g, p));
  kernels.matmul(a.data, b.data, out.data, (bias?.data as Float32Array | undefined) ?? null, dt(a.dtype), dt(outDType), gemmMeta(g, pads));
  return out;
}

/**
 * Gradients of C = op(A)·op(B) for A [batchA, ·, ·] and B [batchB, ·, ·]. A gradient whose
 * operand was broadcast over the batch is summed over it; where A's rows fold into one long
 * matrix, that sum happens inside a single product instead. dB comes out in dBDType (float32
 * for a bf16 copy of a float32 weight: the product accumulates in float32 and writes it as is).
 * @example const [dx, dw] = gemmBackward(dy, x, w, g, true, true);
 */
export function gemmBackward(
  dC: Tensor,
  a: Tensor,
  b: Tensor,
  g: Gemm,
  needA: boolean,
  needB: boolean,
  dBDType: DType = dC.dtype,
): [Tensor | null, Tensor | null] {
  const batch = Math.max(g.batchA, g.batchB);
  let dA: Tensor | null = null;
  let dB: Tensor | null = null;
  if (needA) {
    const full = g.transA
      ? gemm(b, dC, { batchA: g.batchB, batchB: batch, m: g.k, n: g.m, k: g.n, transA: g.transB, transB: true, varying: varyingAs(g, "k", "m", "n") })
      : gemm(dC, b, { batchA: batch, batchB: g.batchB, m: g.m, n: g.k, k: g.n, transA: false, transB: !g.transB, varying: varyingAs(g, "m", "k", "n") });
    dA = g.batchA === batch ? full : sumTo(full, [1, ...full.shape.slice(1)]);
  }
  if (needB) {
    if (g.batchB === 1 && batch > 1 && !g.transA) {
      // Σ_b A_bᵀ·dC_b is one product over the batch's stacked rows.
      const rows = batch * g.m;
      dB = g.transB
        ? gemm(dC, a, { batchA: 1, batchB: 1, m: g.n, n: g.k, k: rows, transA: true, transB: false, varying: varyingAs(g, "n", "k", "m") }, null, dBDType)
        : gemm(a, dC, { batchA: 1, batchB: 1, m: g.k, n: g.n, k: rows, transA: true, transB: false, varying: varyingAs(g, "k", "n", "m") }, null, dBDType);
    } else {
      const full = g.transB
        ? gemm(
            dC,
            a,
            { batchA: batch, batchB: g.batchA, m: g.n, n: g.k, k: g.m, transA: true, transB: g.transA, varying: varyingAs(g, "n", "k", "m") },
            null,
            dBDType,
          )
        : gemm(
            a,
            dC,
            { batchA: g.batchA, batchB: batch, m: g.k, n: g.n, k: g.m, transA: !g.transA, transB: false, varying: varyingAs(g, "k", "n", "m") },
            null,
            dBDType,
          );
      dB = g.batchB === batch ? full : sumTo(full, [1, ...full.shape.slice(1)]);
    }
  }
  return [dA, dB];
}

interface MatmulAttrs extends Gemm {
  outShape: number[];
}

export const matmulOp: OpDef<MatmulAttrs> = {
  name: "matmul",
  forward: ([a, b], attrs) => {
    requireSameDType("matmul", a!, b!);
    const c = gemm(a!, b!, attrs);
    return { out: viewAs(c, attrs.outShape), save: [a!, b!] };
  },
  backward: ({ saved: [a, b], attrs, inputShapes, needsGrad }, [g]) => {
    const dC = g!.viewAs([Math.max(attrs.batchA, attrs.batchB), attrs.m, attrs.n]);
    const [dA, dB] = gemmBackward(dC, a!, b!, attrs, needsGrad[0]!, needsGrad[1]!);
    return [dA?.viewAs(inputShapes[0]!), dB?.viewAs(inputShapes[1]!)];
  },
};

/** t viewed as shape, t's own handle disposed (t itself when the shape is the same). @example return viewAs(c, outShape); */
export function viewAs(t: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(t.shape, shape)) return t;
  const v = t.viewAs(shape);
  t.dispose();
  return v;
}

/**
 * Matrix product with PyTorch's semantics: 1-D operands are vectors, leading axes are batch
 * axes and broadcast as PyTorch's do, on either side or both ([3,1,5,7]·[1,4,7,9] → [3,4,5,9]). bfloat16 operands accumulate in float32;
 * float16 ones are rounded like float16 (the native backend computes them through float32).
 * @example matmul(x, w)              // [B, T, C] · [C, N] -> [B, T, N]
 * @example matmul(q, kT)             // [B, H, T, D] · [B, H, D, T]
 * @example matmul(a, b)              // [3, 1, 5, 7] · [1, 4, 7, 9] -> [3, 4, 5, 9]
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  requireFloat(a, "matmul");
  if (a.ndim === 0 || b.ndim === 0)
    throw new RangeError(`matmul: operands must have at least one axis, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const aShape = a.ndim === 1 ? [1, a.shape[0]!] : a.shape;
  const bShape = b.ndim === 1 ? [b.shape[0]!, 1] : b.shape;
  const m = aShape[aShape.length - 2]!,
    k = aShape[aShape.length - 1]!;
  const kb = bShape[bShape.length - 2]!,
    n = bShape[bShape.length - 1]!;
  if (k !== kb) throw new RangeError(`matmul: inner dimensions differ: ${formatShape(a.shape)} · ${formatShape(b.shape)} (${k} vs ${kb})`);
  const aBatch = aShape.slice(0, -2),
    bBatch = bShape.slice(0, -2);
  let batchShape: number[];
  try {
    batchShape = broadcastShapes(aBatch, bBatch, "matmul");
  } catch {
    throw new RangeError(
      `matmul: batch axes ${formatShape(aBatch)} and ${formatShape(bBatch)} of ${formatShape(a.shape)} · ${formatShape(b.shape)} do not broadcast`,
    );
  }
  const batch = sizeOf(batchShape);
  const outShape = [...batchShape, ...(a.ndim === 1 ? [] : [m]), ...(b.ndim === 1 ? [] : [n])];
  const batchA = sizeOf(aBatch),
    batchB = sizeOf(bBatch);
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) {
    // Both sides broadcast ([3,1,5,7]·[1,4,7,9]): the kernel shares only a whole single matrix,
    // so both operands are copied out to the full batch (expand's backward sums the gradients back).
    const full = (x: Tensor, shape: readonly number[]): Tensor => expand(reshape(x, shape), [...batchShape, ...shape.slice(-2)]);
    return tidy(() => reshape(matmul(full(a, aShape), full(b, bShape)), outShape));
  }
  return apply1(matmulOp, [a, b], { batchA, batchB, m, n, k, transA: false, transB: false, outShape });
}

/** The attributes of a linear-like op (linear, linearGelu): its shape, options and weight copy. */
export interface LinearAttrs extends LinearCallOptions {
  rows: number;
  inFeatures: number;
  outFeatures: number;
  outShape: number[];
  /** The low-precision copy of the float32 weight input to compute with, under autocast. */
  weightCopy: Tensor | null;
}

/** How a linear-like op is called. */
export interface LinearCallOptions {
  /** The row count changes from call to call (a mixture-of-experts expert): its products share one primitive for every count. */
  varyingRows?: boolean;
}

/**
 * The product of a linear-like op, x [rows, in] · Wᵀ.
 * @example linearGemm({ rows: 4, inFeatures: 3, outFeatures: 5 }) // { m: 4, n: 5, k: 3, transB: true, ... }
 */
export function linearGemm({ rows, inFeatures, outFeatures, varyingRows }: Pick<LinearAttrs, "rows" | "inFeatures" | "outFeatures" | "varyingRows">): Gemm {
  return { batchA: 1, batchB: 1, m: rows, n: outFeatures, k: inFeatures, transA: false, transB: true, varying: varyingRows ? { m: true } : undefined };
}

export const linearOp: OpDef<LinearAttrs> = {
  name: "linear",
  forward: ([x, weight, bias], attrs) => {
    const w = attrs.weightCopy ?? weight!;
    requireSameDType("linear", x!, w);
    const y = gemm(x!, w, linearGemm(attrs), bias ?? null);
    return { out: viewAs(y, attrs.outShape), save: [x!, w] };
  },
  backward: ({ saved: [x, w], attrs, inputShapes, inputDtypes, needsGrad }, [g]) => {
    const dy = g!.viewAs([attrs.rows, attrs.outFeatures]);
    // A float32 weight computed with its copy gets its gradient straight from the product in float32.
    const [dx, dw] = gemmBackward(dy, x!, w!, linearGemm(attrs), needsGrad[0]!, needsGrad[1]!, inputDtypes[1]!);
    // The bias is float32 whatever the operands' dtype; its gradient is summed and kept in float32.
    const db = needsGrad[2] ? sumInFloat32(dy, 0) : null;
    return [dx?.viewAs(inputShapes[0]!), dw?.viewAs(inputShapes[1]!), db];
  },
};

/**
 * y = x·Wᵀ + b, PyTorch's F.linear: x [..., in], weight [out, in], bias [out]. The bias is
 * added inside the matmul kernel. Under bfloat16 autocast a float32 parameter weight is read
 * through its persistent bf16 copy (src/tensor/low_copy.ts) and gets a float32 gradient
 * directly, with no cast op either way. `options.varyingRows` marks a layer whose row count
 * changes every call (an expert's routed tokens).
 * @example linear(x, fc.weight, fc.bias)   // [32, 784] -> [32, 10]
 * @example linear(routed, expert.weight, expert.bias, { varyingRows: true })
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null, options: LinearCallOptions = {}): Tensor {
  return withLinearOperands("linear", x, weight, (input, weightCopy) => {
    const shape = linearShape("linear", input, weight, bias);
    return apply1(linearOp, bias ? [input, weight, bias] : [input, weight], { ...shape, ...options, weightCopy });
  });
}

/**
 * Runs `run` with the operands a linear-like op computes with: under bfloat16 autocast of `op`,
 * x in bfloat16 and a float32 parameter weight's persistent bf16 copy (its inputs are then what
 * autocast wants, so apply() casts nothing again); otherwise x itself and no copy.
 * @example withLinearOperands("linear", x, w, (input, copy) => apply1(linearOp, [input, w], { ...linearShape("linear", input, w), weightCopy: copy }));
 */
export function withLinearOperands(op: OpName, x: Tensor, weight: Tensor, run: (input: Tensor, weightCopy: Tensor | null) => Tensor): Tensor {
  if (autocastLowDType(op) === "bfloat16" && weight.dtype === "float32" && weight.isLeaf && weight.requiresGrad && isFloating(x.dtype)) {
    const low = x.dtype === "bfloat16" ? x : cast(x, "bfloat16");
    const copy = lowCopy(weight, "bfloat16");
    try {
      return withoutAutocast(() => run(low, copy));
    } finally {
      if (low !== x) low.dispose();
    }
  }
  return run(x, null);
}

/**
 * The checked shape of op(x, weight, bias) for a linear-like op: rows of x, features in and out,
 * and the output's shape; throws naming `op` and the shapes.
 * @example linearShape("linear", zeros([4, 3]), zeros([5, 3])) // { rows: 4, inFeatures: 3, outFeatures: 5, outShape: [4, 5] }
 */
export function linearShape(
  op: string,
  x: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
): { rows: number; inFeatures: number; outFeatures: number; outShape: number[] } {
  requireFloat(x, op);
  if (weight.ndim !== 2) throw new RangeError(`${op}: weight must be [out, in], got ${formatShape(weight.shape)}`);
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== inFeatures) {
    throw new RangeError(`${op}: input ${formatShape(x.shape)} does not end in ${inFeatures} features (weight ${formatShape(weight.shape)})`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outFeatures || bias.dtype !== "float32")) {
    throw new RangeError(`${op}: bias must be float32 [${outFeatures}], got ${bias.dtype} ${formatShape(bias.shape)}`);
  }
  return { rows: sizeOf(x.shape.slice(0, -1)), inFeatures, outFeatures, outShape: [...x.shape.slice(0, -1), outFeatures] };
}
