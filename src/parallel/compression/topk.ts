import type { ProcessGroup } from "../process_group.js";
import { gatherArrays } from "./gather.js";
import { type CommunicationHook, type GradientBucket, OVERFLOW_FLAG_BYTES, withFeedback } from "./hook.js";

/**
 * Deep gradient compression's top-k sparsification with error feedback: each rank adds the
 * residual it kept to its bucket, sends only the k = ⌈ratio·n⌉ entries of largest magnitude
 * (indices and values, through two all-gathers: 8k bytes instead of 4n) and keeps the rest as
 * the next step's residual, so every coordinate's gradient is applied eventually. The bucket
 * then holds the mean over the ranks of their sparse parts.
 *
 * @example new DistributedDataParallel(model, group, { hook: new TopKHook({ ratio: 0.01 }) });
 */
export class TopKHook implements CommunicationHook {
  readonly kind = "topk";
  readonly ratio: number;
  private readonly residuals = new Map<number, Float32Array>();

  constructor(options: { ratio: number }) {
    if (!(options.ratio > 0 && options.ratio <= 1)) throw new RangeError(`parallel.compression.ratio must be in (0, 1], got ${options.ratio}`);
    this.ratio = options.ratio;
  }

  reduce(bucket: GradientBucket, group: ProcessGroup): number {
    const input = withFeedback(this.kind, this.residuals, bucket, group);
    if ("sent" in input) return input.sent;
    const { values, residual } = input,
      n = values.length;
    const k = Math.min(n, Math.ceil(this.ratio * n));
    const indices = largestMagnitudes(residual, k),
      kept = new Float32Array(k);
    indices.forEach((at, j) => {
      kept[j] = residual[at]!;
      residual[at] = 0; // sent: what stays is the error fed back next step
    });
    const allIndices = gatherArrays(group, indices, "int32"),
      allValues = gatherArrays(group, kept, "float32");
    values.fill(0);
    for (let j = 0; j < allIndices.length; j++) values[allIndices[j]!]! += allValues[j]!;
    const scale = 1 / group.size;
    for (let i = 0; i < n; i++) values[i]! *= scale;
    return OVERFLOW_FLAG_BYTES + 8 * k;
  }
}

/**
 * Indices of the k entries of largest |x| (ties broken by the lower index), ascending: a
 * quickselect for the k-th magnitude, then one pass.
 * @example largestMagnitudes(new Float32Array([1, -5, 2]), 2); // Int32Array [1, 2]
 */
export function largestMagnitudes(x: Float32Array, k: number): Int32Array {
  const out = new Int32Array(k);
  if (k === 0) return out;
  const magnitudes = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) magnitudes[i] = Math.abs(x[i]!);
  const threshold = kthLargest(magnitudes, k);
  let above = 0;
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i]!) > threshold) above++;
  let ties = k - above,
    j = 0;
  for (let i = 0; i < x.length && j < k; i++) {
    const a = Math.abs(x[i]!);
    if (a > threshold || (a === threshold && ties-- > 0)) out[j++] = i;
  }
  return out;
}

/** The k-th largest value of a (reordered in place), by Hoare's quickselect. */
function kthLargest(a: Float32Array, k: number): number {
  let lo = 0,
    hi = a.length - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo,
      j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}
