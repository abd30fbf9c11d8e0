import { fromTypedArray } from "../tensor/create.js";
import type { Tensor } from "../tensor/tensor.js";

/**
 * Picking whole slices of weights by index, on the host: what structured pruning keeps of a
 * layer (rows of a Linear, output channels of a conv, columns of the next layer).
 */

/** How many of n stay when `fraction` of them is removed: n − floor(fraction · n), at least 1. @example keptCount(32, 0.5) // 16 */
export function keptCount(n: number, fraction: number): number {
  return Math.max(1, n - Math.floor(fraction * n + 1e-9));
}

/**
 * The indices of the `keep` highest scores, in increasing index order (ties: the lower index stays).
 * @example strongest([0.1, 3, 2, 0.5], 2) // [1, 2]
 */
export function strongest(scores: readonly number[], keep: number): number[] {
  return scores
    .map((s, i) => [s, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, keep)
    .map(([, i]) => i)
    .sort((a, b) => a - b);
}

/**
 * The L1 norm of each slice along `axis` of a [..., n, ...] tensor viewed as `shape`: a conv's
 * output channels (axis 0), a Linear's neurons (axis 0) or its input columns (axis 1).
 * @example l1Along(conv.weight, conv.weight.shape, 0)  // one norm per output channel
 */
export function l1Along(t: Tensor, shape: readonly number[], axis: number): number[] {
  const { outer, n, inner } = split(shape, axis);
  const values = t.toHost() as Float32Array;
  const norms = new Array<number>(n).fill(0);
  for (let o = 0; o < outer; o++) for (let j = 0; j < n; j++) for (let k = 0; k < inner; k++) norms[j]! += Math.abs(values[(o * n + j) * inner + k]!);
  return norms;
}

/**
 * A new float32 tensor of t's slices `indices` along `axis`, t viewed as `view`; its shape is
 * `view` with that axis cut to the indices, or `shape` (a Linear's [h, C'·s] from a [h, C, s] view).
 * @example selectAlong(fc.weight, [128, 64, 25], 1, kept, [128, kept.length * 25])  // the columns of the kept channels
 */
export function selectAlong(t: Tensor, view: readonly number[], axis: number, indices: readonly number[], shape?: readonly number[]): Tensor {
  const { outer, n, inner } = split(view, axis);
  if (t.size !== outer * n * inner) throw new RangeError(`selectAlong: a tensor of ${t.size} elements viewed as [${view.join(", ")}]`);
  const values = t.toHost() as Float32Array;
  const out = new Float32Array(outer * indices.length * inner);
  for (let o = 0; o < outer; o++) {
    indices.forEach((j, at) => out.set(values.subarray((o * n + j) * inner, (o * n + j + 1) * inner), (o * indices.length + at) * inner));
  }
  return fromTypedArray(out, shape ?? view.map((d, i) => (i === axis ? indices.length : d)), "float32", "parameter");
}

function split(shape: readonly number[], axis: number): { outer: number; n: number; inner: number } {
  const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
  return { outer: product(shape.slice(0, axis)), n: shape[axis]!, inner: product(shape.slice(axis + 1)) };
}
