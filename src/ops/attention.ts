import { apply1, type OpDef } from "../autograd/op.js";
import { native } from "../tensor/native.js";
import { formatShape, sameShape, sizeOf } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { dt, requireFloat, requireSameDType } from "./util.js";

/**
 * Fused scaled-dot-product attention on the native FlashAttention-style kernels
 * (native/attention.cc): the T × T score matrix is never stored, forward saves one f32
 * log-sum-exp per query row and backward recomputes the scores from it.
 */

/** Options of scaledDotProductAttention. */
export interface AttentionOptions {
  /** Query i attends to keys 0..i only (a decoder's mask); default true. */
  causal?: boolean;
  /** Factor on q·kᵀ before the softmax; default 1/√D. */
  scale?: number;
  /** Query and key rows per tile of the kernels, in [1, 256]; default 64. */
  blockSize?: number;
}

interface AttentionAttrs {
  causal: boolean;
  scale: number;
  blockSize: number;
}

const NAME = "scaledDotProductAttention";
const MAX_BLOCK = 256; // native/attention.cc's kMaxBlock

/** [bh, t, d] of q's shape [..., T, D]. */
function extents(shape: readonly number[]): [number, number, number] {
  const n = shape.length;
  return [sizeOf(shape.slice(0, n - 2)), shape[n - 2]!, shape[n - 1]!];
}

const attentionOp: OpDef<AttentionAttrs> = {
  name: NAME,
  forward: ([q, k, v], { causal, scale, blockSize }, recording) => {
    const [bh, t, d] = extents(q!.shape);
    const out = Tensor.empty(q!.shape, q!.dtype);
    const lse = recording ? Tensor.empty(q!.shape.slice(0, -1), "float32") : null;
    native.attention(dt(q!.dtype), q!.data, k!.data, v!.data, out.data, (lse?.data as Float32Array) ?? null, bh, t, d, scale, causal, blockSize);
    return { out, save: [q!, k!, v!, out], scratch: lse ? [lse] : [] };
  },
  backward: ({ saved: [q, k, v, out, lse], attrs: { causal, scale, blockSize }, needsGrad }, [g]) => {
    const grads = needsGrad.map((need) => (need ? Tensor.empty(q!.shape, q!.dtype) : null));
    const [dq, dk, dv] = grads.map((t) => t?.data ?? null);
    native.attentionBackward(
      dt(q!.dtype),
      q!.data,
      k!.data,
      v!.data,
      out!.data,
      lse!.data as Float32Array,
      g!.data,
      dq,
      dk,
      dv,
      ...extents(q!.shape),
      scale,
      causal,
      blockSize,
    );
    return grads;
  },
};

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
  for (const t of [q, k, v]) requireFloat(t, NAME);
  requireSameDType(NAME, q, k, v);
  if (!sameShape(q.shape, k.shape) || !sameShape(q.shape, v.shape) || q.ndim < 2) {
    throw new RangeError(
      `${NAME}: q ${formatShape(q.shape)}, k ${formatShape(k.shape)} and v ${formatShape(v.shape)} must have one shape [..., T, D]`,
    );
  }
  const d = q.shape[q.ndim - 1]!;
  if (d < 1) throw new RangeError(`${NAME}: the head dimension D of ${formatShape(q.shape)} must be at least 1`);
  const { causal = true, scale = 1 / Math.sqrt(d), blockSize = 64 } = options;
  if (typeof causal !== "boolean") throw new TypeError(`${NAME}: causal must be a boolean, got ${String(causal)}`);
  if (typeof scale !== "number" || !Number.isFinite(scale)) throw new RangeError(`${NAME}: scale must be a finite number, got ${scale}`);
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > MAX_BLOCK) {
    throw new RangeError(`${NAME}: blockSize must be an integer in [1, ${MAX_BLOCK}], got ${blockSize}`);
  }
  return apply1(attentionOp, [q, k, v], { causal, scale, blockSize });
}
