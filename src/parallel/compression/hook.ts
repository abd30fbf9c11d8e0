import type { ProcessGroup } from "../process_group.js";
import { sumOfSquares } from "../../ops/optimizer_kernels.js";
import { Tensor } from "../../tensor/tensor.js";

/** One DDP bucket's gradient as a communication hook sees it. */
export interface GradientBucket {
  /** The bucket's position in DDP's bucket order (the same on every rank): the key of per-bucket state. */
  readonly index: number;
  /** This rank's flat float32 gradient; the hook leaves the average over the ranks in it. */
  readonly flat: Tensor;
  /** Shape of each parameter gradient in the bucket, in order (low-rank hooks compress per matrix). */
  readonly shapes: readonly (readonly number[])[];
  /** Element offset of each parameter gradient in `flat`. */
  readonly offsets: readonly number[];
}

/**
 * A DDP communication hook, as PyTorch's register_comm_hook: given a bucket's flat gradient it
 * communicates (compressed) and returns once the bucket holds the averaged, decompressed result.
 * Every rank calls it with the same buckets in the same order; it returns the bytes this rank put
 * into collectives (the inputs of its all-reduces and all-gathers), the figure `comm_bytes` sums.
 *
 * @example
 * const ddp = new DistributedDataParallel(model, group, { hook: new TopKHook({ ratio: 0.01 }) });
 * loss.backward();     // each bucket averaged through the hook
 * ddp.commBytes;       // bytes this rank sent so far
 */
export interface CommunicationHook {
  /** The compressor's name as `parallel.compression.kind` spells it. */
  readonly kind: string;
  /** Averages `bucket.flat` over `group` in place (blocking); returns the bytes this rank sent. */
  reduce(bucket: GradientBucket, group: ProcessGroup): number;
}

/** The float32 elements of a bucket's flat gradient, checking that the hook can read them as such. */
export function floatElements(bucket: GradientBucket, kind: string): Float32Array {
  if (bucket.flat.dtype !== "float32")
    throw new TypeError(`parallel.compression ${kind}: gradients must be float32 (got ${bucket.flat.dtype}); compression works on f32 master gradients`);
  return bucket.flat.toHost() as Float32Array;
}

/** The residual a compressor keeps per bucket (error feedback), zeros on first use. */
export function residualOf(residuals: Map<number, Float32Array>, bucket: GradientBucket, size: number): Float32Array {
  let residual = residuals.get(bucket.index);
  if (!residual || residual.length !== size) {
    residual = new Float32Array(size);
    residuals.set(bucket.index, residual);
  }
  return residual;
}

/** The bytes of sendOverflowWhole's agreement, which a compressing hook adds to what it sent. */
export const OVERFLOW_FLAG_BYTES = 4;

/**
 * For the hooks with error feedback: when any rank's bucket holds inf or NaN (a loss-scaled step
 * that overflowed), the bucket is all-reduced as it is, so every rank sees the overflow and the
 * GradScaler skips the step, and the residuals are left alone: fed into them, the overflow would
 * poison every later step (the loss scale halving forever of DeepSpeed issue 753). The ranks
 * agree through a 4-byte all-reduce (max) per bucket. Returns the bytes sent, or null when every
 * rank's bucket is finite and the hook compresses it (the 4 bytes are then the hook's to count).
 */
export function sendOverflowWhole(bucket: GradientBucket, values: Float32Array, group: ProcessGroup): number | null {
  // Σx² of finite float32 values stays finite in double: it is inf or NaN exactly when a value is.
  const overflow = Number.isFinite(sumOfSquares(bucket.flat)) ? 0 : 1;
  const flag = Tensor.empty([1], "float32", "gradient");
  try {
    flag.toHost()[0] = overflow;
    group.allReduce(flag, "max").wait();
    if (flag.toHost()[0] === 0) return null;
  } finally {
    flag.dispose();
  }
  group.allReduce(bucket.flat, "mean").wait();
  return OVERFLOW_FLAG_BYTES + 4 * values.length;
}

/**
 * The common start of a hook with error feedback: a bucket that overflowed on any rank is sent
 * whole (`{ sent }`, the bytes); otherwise the bucket's residual with this step's gradient added
 * to it, which the hook then compresses.
 * @example const input = withFeedback("topk", this.residuals, bucket, group); if ("sent" in input) return input.sent;
 */
export function withFeedback(
  kind: string,
  residuals: Map<number, Float32Array>,
  bucket: GradientBucket,
  group: ProcessGroup,
): { sent: number } | { values: Float32Array; residual: Float32Array } {
  const values = floatElements(bucket, kind);
  const sent = sendOverflowWhole(bucket, values, group);
  if (sent !== null) return { sent };
  const residual = residualOf(residuals, bucket, values.length);
  for (let i = 0; i < values.length; i++) residual[i]! += values[i]!;
  return { values, residual };
}
