/**
 * Which elements of some weights survive: 1 kept, 0 pruned, one byte per element. Computed on
 * the host from the weights' magnitudes; the Pruner applies them.
 */
export type Mask = Uint8Array;

/** A weight as the mask functions see it: its elements and shape (a Linear's [out, in], a conv's [out, in, kh, kw]). */
export interface MaskedWeight {
  name: string;
  values: Float32Array;
  shape: readonly number[];
  /** Its current mask (already pruned elements stay pruned), or null. */
  mask: Mask | null;
}

/**
 * Magnitude masks at `sparsity`: exactly floor(sparsity · elements) elements pruned, per weight
 * (scope "layer") or over all of them together (scope "global", so layers end up with different
 * sparsities). The smallest |w| go first, ties in index order; an element already pruned counts
 * as the smallest, so a mask only grows (a pruned weight never regrows).
 * @example const [mask] = magnitudeMasks([{ name: "0.weight", values, shape: [4, 8], mask: null }], 0.5, "layer");
 */
export function magnitudeMasks(weights: MaskedWeight[], sparsity: number, scope: "global" | "layer"): Mask[] {
  if (scope === "layer") return weights.map((w) => pruneSmallest([w], sparsity)[0]!);
  return pruneSmallest(weights, sparsity);
}

/** Masks for the weights together, pruning the floor(sparsity · total) smallest scores. */
function pruneSmallest(weights: MaskedWeight[], sparsity: number): Mask[] {
  const total = weights.reduce((n, w) => n + w.values.length, 0);
  const prune = Math.floor(sparsity * total + 1e-9);
  const scores = new Float32Array(total);
  let offset = 0;
  for (const w of weights) {
    for (let i = 0; i < w.values.length; i++) scores[offset + i] = w.mask && w.mask[i] === 0 ? -1 : Math.abs(w.values[i]!);
    offset += w.values.length;
  }
  const masks = weights.map((w) => new Uint8Array(w.values.length).fill(1));
  if (prune === 0) return masks;
  const threshold = new Float32Array(scores).sort()[prune - 1]!;
  // Below the threshold all go; at it, the first in index order until exactly `prune` are gone.
  let below = 0;
  for (const s of scores) if (s < threshold) below++;
  let ties = prune - below;
  offset = 0;
  weights.forEach((w, k) => {
    const mask = masks[k]!;
    for (let i = 0; i < w.values.length; i++) {
      const s = scores[offset + i]!;
      if (s < threshold || (s === threshold && ties-- > 0)) mask[i] = 0;
    }
    offset += w.values.length;
  });
  return masks;
}

/**
 * An N:M mask (NVIDIA ASP's 2:4): in every group of m consecutive input channels at one output
 * row (and one kernel position of a convolution) the n largest |w| are kept, the other m − n
 * pruned. The input dimension (shape[1]) must be a multiple of m.
 * @example nmMask(values, [8, 16], 2, 4)   // half of each 4 consecutive inputs kept
 */
export function nmMask(values: Float32Array, shape: readonly number[], n: number, m: number): Mask {
  const [rows, inputs] = [shape[0]!, shape[1] ?? 1];
  if (inputs % m !== 0) throw new RangeError(`nmMask: input dimension ${inputs} is not a multiple of m ${m}`);
  const kernel = values.length / (rows * inputs);
  const mask = new Uint8Array(values.length);
  const group = Array.from({ length: m }, () => 0);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < kernel; k++) {
      for (let i0 = 0; i0 < inputs; i0 += m) {
        // Element (r, i, k) of the [rows, inputs, kernel] view; the group runs over i.
        for (let j = 0; j < m; j++) group[j] = (r * inputs + i0 + j) * kernel + k;
        group.sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!) || a - b);
        for (let j = 0; j < n; j++) mask[group[j]!] = 1;
      }
    }
  }
  return mask;
}
