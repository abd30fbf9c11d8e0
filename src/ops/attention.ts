import { apply1, type OpDef } from "../autograd/op.js";
import { kernels } from "../backends/index.js";
import { tunedChoice } from "../backends/native/kernel_tuning.js";
import { formatShape, sameShape, sizeOf } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { dt, requireFloat, requireSameDType } from "./util.js";
import type { OpName } from "./registry.js";

/**
 * Fused attention on the native FlashAttention-style kernels (native/attention.cc): the T × T
 * score matrix is never stored, forward saves one f32 log-sum-exp per query row and backward
 * recomputes the scores from it. The kernels read q, k, v and write the output and gradients
 * through strides, so one kernel serves separate [B, H, T, D] tensors (scaledDotProductAttention)
 * and a GPT's packed qkv projection (causalSelfAttention) without split or permute copies.
 */

/** Options of scaledDotProductAttention. */
export interface AttentionOptions {
  /** Query i attends to keys 0..i only (a decoder's mask); default true. */
  causal?: boolean;
  /** Factor on q·kᵀ before the softmax; default 1/√D. */
  scale?: number;
  /**
   * Query and key rows per tile of the kernels, in [1, 256]; by default the fastest of 64, 32
   * and 128 on this CPU for the shape, measured on its first use (src/backends/native/kernel_tuning.ts).
   */
  blockSize?: number;
}

/** Options of causalSelfAttention (always causal). */
export type SelfAttentionOptions = Omit<AttentionOptions, "causal">;

interface AttentionAttrs {
  causal: boolean;
  scale: number;
  blockSize: number;
  /** Heads packed side by side in the last axis; 1 for scaledDotProductAttention. */
  heads: number;
}

/** What the kernels are told: extents [b, h, t, d] and the layout of q, k, v and the output. */
interface Geometry {
  extents: [number, number, number, number];
  layout: Int32Array;
  outShape: number[];
}

const MAX_BLOCK = 256; // native/attention.cc's kMaxBlock
const MAX_INT32 = 2 ** 31 - 1;

/**
 * native/attention.cc's layout argument: the first element and the batch, head and time strides
 * of q, k, v and the output, in elements (gradients share their operand's layout).
 */
function layoutOf(name: string, size: number, operands: number[][]): Int32Array {
  if (size > MAX_INT32) throw new RangeError(`${name}: ${size} elements exceed the kernels' limit of ${MAX_INT32}`);
  return Int32Array.from(operands.flat());
}

/** Separate q, k, v and output [..., T, D]: leading axes become b independent heads. */
function contiguous(name: string, shape: readonly number[]): Geometry {
  const n = shape.length;
  const [b, t, d] = [sizeOf(shape.slice(0, n - 2)), shape[n - 2]!, shape[n - 1]!];
  const rows = [0, t * d, 0, d];
  return { extents: [b, 1, t, d], layout: layoutOf(name, b * t * d, [rows, rows, rows, rows]), outShape: [...shape] };
}

/**
 * qkv [B, T, 3C] with q, k, v in column ranges [0, C), [C, 2C), [2C, 3C), each H heads of
 * D = C / H columns side by side; the output [B, T, C] keeps the heads side by side.
 */
function packed(name: string, shape: readonly number[], heads: number): Geometry {
  const [b, t, width] = shape as [number, number, number];
  const c = width / 3,
    d = c / heads;
  const layout = layoutOf(name, b * t * width, [
    [0, t * width, d, width],
    [c, t * width, d, width],
    [2 * c, t * width, d, width],
    [0, t * c, d, c],
  ]);
  return { extents: [b, heads, t, d], layout, outShape: [b, t, c] };
}

/** q, k, v: three inputs, or three column ranges of one packed input. */
function operands<T>(inputs: readonly T[]): [T, T, T] {
  return inputs.length === 1 ? [inputs[0]!, inputs[0]!, inputs[0]!] : (inputs.slice(0, 3) as [T, T, T]);
}

/** One op table entry per input convention; the kernels and the rules are shared. */
function attentionOp(name: OpName, geometry: (shape: readonly number[], heads: number) => Geometry): OpDef<AttentionAttrs> {
  return {
    name,
    forward: (inputs, { causal, scale, blockSize, heads }, recording) => {
      requireSameDType(name, ...inputs);
      const { extents, layout, outShape } = geometry(inputs[0]!.shape, heads);
      const [q, k, v] = operands(inputs);
      const out = Tensor.empty(outShape, q.dtype);
      const lse = recording ? Tensor.empty(extents.slice(0, 3), "float32") : null;
      kernels.attention(dt(q.dtype), q.data, k.data, v.data, out.data, (lse?.data as Float32Array) ?? null, ...extents, layout, scale, causal, blockSize);
      return { out, save: [...inputs, out], scratch: lse ? [lse] : [] };
    },
    backward: ({ saved, attrs: { causal, scale, blockSize, heads }, inputShapes, needsGrad }, [g]) => {
      const { extents, layout } = geometry(inputShapes[0]!, heads);
      const n = needsGrad.length;
      const inputs = saved.slice(0, n),
        out = saved[n]!,
        lse = saved[n + 1]!;
      const grads = inputs.map((x, i) => (needsGrad[i] ? Tensor.empty(x.shape, x.dtype) : null));
      const [q, k, v] = operands(inputs);
      const [dq, dk, dv] = operands(grads.map((t) => t?.data ?? null));
      kernels.attentionBackward(
        dt(q.dtype),
        q.data,
        k.data,
        v.data,
        out.data,
        lse.data as Float32Array,
        g!.data,
        dq,
        dk,
        dv,
        ...extents,
        layout,
        scale,
        causal,
        blockSize,
      );
      return grads;
    },
  };
}

const SDPA = "scaledDotProductAttention";
const SELF = "causalSelfAttention";
export const scaledDotProductAttentionOp = attentionOp(SDPA, (shape) => contiguous(SDPA, shape));
export const causalSelfAttentionOp = attentionOp(SELF, (shape, heads) => packed(SELF, shape, heads));

/** Block sizes the kernels are measured with when none is given; the first is the default without measurement. */
const BLOCK_CANDIDATES = [64, 32, 128] as const;

/**
 * The fastest of BLOCK_CANDIDATES for these inputs on this CPU (stored per CPU model): forward
 * and backward timed on the inputs themselves, into scratch arrays.
 */
function tunedBlock(name: string, inputs: readonly Tensor[], geometry: Geometry, causal: boolean, scale: number): number {
  const { extents, layout, outShape } = geometry;
  const [q, k, v] = operands(inputs);
  // Nothing to measure, or inputs the op itself refuses (with its own message).
  if (extents.some((e) => e === 0) || k.dtype !== q.dtype || v.dtype !== q.dtype) return BLOCK_CANDIDATES[0];
  const shape = `${name} ${q.dtype} ${extents.join("x")} ${causal ? "causal" : "full"}`;
  // Plain arrays, not tensors, made at the first measurement: nothing of it is tracked or recorded.
  const like = (data: Tensor["data"], n: number) => new (data.constructor as new (n: number) => Tensor["data"])(n);
  let scratch: { out: Tensor["data"]; lse: Float32Array; grads: Tensor["data"][] } | null = null;
  // Blocks of t rows or more all make one tile per head: only the first of them is a candidate.
  const t = extents[2];
  const candidates = BLOCK_CANDIDATES.filter((b, i) => b < t || !BLOCK_CANDIDATES.slice(0, i).some((c) => c >= t));
  return tunedChoice("attention", shape, candidates, (native, block) => {
    scratch ??= {
      out: like(q.data, sizeOf(outShape)),
      lse: new Float32Array(extents[0] * extents[1] * extents[2]),
      grads: inputs.map((t) => like(t.data, t.data.length)),
    };
    const { out, lse } = scratch;
    const [dq, dk, dv] = operands(scratch.grads);
    native.attention(dt(q.dtype), q.data, k.data, v.data, out, lse, ...extents, layout, scale, causal, block);
    native.attentionBackward(dt(q.dtype), q.data, k.data, v.data, out, lse, out, dq, dk, dv, ...extents, layout, scale, causal, block);
  });
}

/** Checks the options shared by both ops and fills in their defaults for head dimension d (the block size: `tuned`'s). */
function attrsOf(name: string, d: number, heads: number, options: AttentionOptions, tuned: (causal: boolean, scale: number) => number): AttentionAttrs {
  const { causal = true, scale = 1 / Math.sqrt(d) } = options;
  if (typeof causal !== "boolean") throw new TypeError(`${name}: causal must be a boolean, got ${String(causal)}`);
  if (typeof scale !== "number" || !Number.isFinite(scale)) throw new RangeError(`${name}: scale must be a finite number, got ${scale}`);
  const blockSize = options.blockSize ?? tuned(causal, scale);
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > MAX_BLOCK) {
    throw new RangeError(`${name}: blockSize must be an integer in [1, ${MAX_BLOCK}], got ${blockSize}`);
  }
  return { causal, scale, blockSize, heads };
}

/**
 * softmax(q·kᵀ·scale + mask)·v for q, k, v of one shape [..., T, D] (for a transformer,
 * [B, H, T, D]; leading axes are flattened into independent heads) and one floating dtype.
 * With `causal` (the default) query i attends to keys 0..i, as PyTorch's
 * F.scaled_dot_product_attention(q, k, v, is_causal=True). bfloat16 and float16 inputs are
 * computed in float32, outputs and gradients keep the input dtype. Memory is linear in T.
 * @example scaledDotProductAttention(q, k, v)                          // q, k, v [32, 4, 128, 64]
 * @example scaledDotProductAttention(q, k, v, { causal: false, scale: 0.1 })
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  for (const t of [q, k, v]) requireFloat(t, SDPA);
  if (!sameShape(q.shape, k.shape) || !sameShape(q.shape, v.shape) || q.ndim < 2) {
    throw new RangeError(`${SDPA}: q ${formatShape(q.shape)}, k ${formatShape(k.shape)} and v ${formatShape(v.shape)} must have one shape [..., T, D]`);
  }
  const d = q.shape[q.ndim - 1]!;
  if (d < 1) throw new RangeError(`${SDPA}: the head dimension D of ${formatShape(q.shape)} must be at least 1`);
  const tuned = (causal: boolean, scale: number) => tunedBlock(SDPA, [q, k, v], contiguous(SDPA, q.shape), causal, scale);
  return apply1(scaledDotProductAttentionOp, [q, k, v], attrsOf(SDPA, d, 1, options, tuned));
}

/**
 * Causal multi-head self-attention from a packed projection: qkv [B, T, 3C] holds q, k and v in
 * that column order (the output of Linear(C, 3C), as nanoGPT's `qkv.split(C, dim=2)`), each of
 * `heads` heads of D = C / heads columns. Returns [B, T, C] with the heads merged, as
 * `(softmax(q·kᵀ·scale + causal mask)·v).transpose(1, 2).reshape(B, T, C)`; the gradient is
 * one [B, T, 3C] tensor. The kernels read and write the packed layout directly, with no copies.
 * @example causalSelfAttention(qkv, 4)                // qkv [32, 128, 768] -> [32, 128, 256]
 * @example causalSelfAttention(qkv, 8, { blockSize: 32 })
 */
export function causalSelfAttention(qkv: Tensor, heads: number, options: SelfAttentionOptions = {}): Tensor {
  requireFloat(qkv, SELF);
  if (qkv.ndim !== 3) throw new RangeError(`${SELF}: qkv ${formatShape(qkv.shape)} must be 3-D [B, T, 3C]`);
  const width = qkv.shape[2]!;
  if (width % 3 !== 0 || width === 0) {
    throw new RangeError(`${SELF}: the last axis of qkv ${formatShape(qkv.shape)} must be 3C for some C >= 1, got ${width}`);
  }
  if (!Number.isInteger(heads) || heads < 1) throw new RangeError(`${SELF}: heads must be a positive integer, got ${heads}`);
  const c = width / 3;
  if (c % heads !== 0) throw new RangeError(`${SELF}: width C = ${c} of qkv ${formatShape(qkv.shape)} is not a multiple of heads ${heads}`);
  const tuned = (causal: boolean, scale: number) => tunedBlock(SELF, [qkv], packed(SELF, qkv.shape, heads), causal, scale);
  return apply1(causalSelfAttentionOp, [qkv], attrsOf(SELF, c / heads, heads, { ...options, causal: true }, tuned));
}
