import type { Tensor } from "../tensor/tensor.js";

/**
 * The element-wise parts of the LAMB and Muon updates, in TypeScript over the float32 tensors
 * the optimizers own (no native kernel yet, unlike Adam's, Lion's and SGD's fused steps). Like
 * the kernels they write in place and are not recorded by autograd.
 */

function f32(t: Tensor): Float32Array {
  return t.data as Float32Array;
}

/**
 * LAMB's direction (You et al.) into `update`: Adam's bias-corrected moments (m and v advanced
 * here) plus weightDecay·p. Returns ‖p‖ and ‖update‖, summed in double, for the trust ratio;
 * hyper = [beta1, beta2, eps, weightDecay, step].
 *
 * @example
 * const { weightNorm, updateNorm } = lambDirection(p, p.grad!, m, v, scratch, new Float64Array([0.9, 0.999, 1e-6, 0.01, 1]));
 */
export function lambDirection(p: Tensor, grad: Tensor, m: Tensor, v: Tensor, update: Tensor, hyper: Float64Array): { weightNorm: number; updateNorm: number } {
  const [beta1, beta2, eps, wd, step] = hyper as unknown as [number, number, number, number, number];
  const w = f32(p),
    g = f32(grad),
    m1 = f32(m),
    m2 = f32(v),
    u = f32(update);
  const correct1 = 1 - beta1 ** step,
    correct2 = 1 - beta2 ** step;
  let ww = 0,
    uu = 0;
  for (let i = 0; i < w.length; i++) {
    m1[i] = beta1 * m1[i]! + (1 - beta1) * g[i]!;
    m2[i] = beta2 * m2[i]! + (1 - beta2) * g[i]! * g[i]!;
    u[i] = m1[i]! / correct1 / (Math.sqrt(m2[i]! / correct2) + eps) + wd * w[i]!;
    ww += w[i]! * w[i]!;
    uu += u[i]! * u[i]!;
  }
  return { weightNorm: Math.sqrt(ww), updateNorm: Math.sqrt(uu) };
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
