import type { Tensor } from "../tensor/tensor.js";

/**
 * The element-wise parts of the Muon update, and LAMB's two passes over a rank's slices under
 * ZeRO, in TypeScript over the float32 tensors the optimizer owns (LAMB's whole-parameter step
 * and Muon's AdamW groups run on the multi-tensor kernels of optimizer_kernels.ts). Like the
 * kernels they write in place and are not recorded by autograd.
 */

function f32(t: Tensor): Float32Array {
  return t.data as Float32Array;
}

/** p ← p·decay + alpha·x, element-wise, same size. @example scaleAddInPlace(p, 1 - lr * wd, update, -lr) */
export function scaleAddInPlace(p: Tensor, decay: number, x: Tensor, alpha: number): void {
  const w = f32(p),
    u = f32(x);
  for (let i = 0; i < w.length; i++) w[i] = w[i]! * decay + alpha * u[i]!;
}

/**
 * Muon's Nesterov momentum (Keller Jordan's reference): m ← m + (1 − β)(g − m), and into
 * `out` g + β(m − g), the matrix Newton–Schulz then orthogonalises.
 *
 * @example
 * nesterovMomentum(p.grad!, m, out, 0.95);
 */
export function nesterovMomentum(grad: Tensor, m: Tensor, out: Tensor, beta: number): void {
  const g = f32(grad),
    mo = f32(m),
    o = f32(out);
  for (let i = 0; i < g.length; i++) {
    mo[i] = mo[i]! + (1 - beta) * (g[i]! - mo[i]!);
    o[i] = g[i]! + beta * (mo[i]! - g[i]!);
  }
}

/** LAMB's hyperparameters of one parameter, as the multi-tensor kernel's row. */
export interface LambRow {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

/** LAMB's direction from the stored moments, rounded to float32 as the kernel stores it. */
function lambDirection(m: number, v: number, w: number, correct1: number, correct2: number, h: LambRow): number {
  return Math.fround(m / correct1 / (Math.sqrt(v / correct2) + h.eps) + h.weightDecay * w);
}

/**
 * LAMB's first pass over a slice of a parameter (native/lamb.cc's, in double from the float32
 * values): advances Adam's moments m and v in place and returns the slice's [Σ w², Σ u²] of
 * the direction u = m̂ / (√v̂ + eps) + weightDecay·w, the partial sums of the whole norms.
 *
 * @example
 * const [ww, uu] = lambMomentsAndNorms(slice, slice.grad!, m, v, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01, step: 1 });
 */
export function lambMomentsAndNorms(p: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, h: LambRow): [number, number] {
  const w = f32(p),
    g = f32(grad),
    m = f32(expAvg),
    v = f32(expAvgSq);
  const correct1 = 1 - h.beta1 ** h.step,
    correct2 = 1 - h.beta2 ** h.step;
  let ww = 0,
    uu = 0;
  for (let i = 0; i < w.length; i++) {
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g[i]!;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g[i]! * g[i]!;
    const u = lambDirection(m[i]!, v[i]!, w[i]!, correct1, correct2, h);
    ww += w[i]! * w[i]!;
    uu += u * u;
  }
  return [ww, uu];
}

/**
 * LAMB's second pass over a slice: w ← w − lr·trust·u, u recomputed from the moments the first
 * pass stored, `trust` the whole parameter's ‖w‖ / ‖u‖.
 *
 * @example
 * lambApplyTrust(slice, m, v, row, Math.sqrt(ww) / Math.sqrt(uu));
 */
export function lambApplyTrust(p: Tensor, expAvg: Tensor, expAvgSq: Tensor, h: LambRow, trust: number): void {
  const w = f32(p),
    m = f32(expAvg),
    v = f32(expAvgSq);
  const correct1 = 1 - h.beta1 ** h.step,
    correct2 = 1 - h.beta2 ** h.step,
    alpha = -h.lr * trust;
  for (let i = 0; i < w.length; i++) w[i] = w[i]! + alpha * lambDirection(m[i]!, v[i]!, w[i]!, correct1, correct2, h);
}
