import type { Tensor } from "../tensor/tensor.js";

/**
 * The element-wise parts of the Muon update, in TypeScript over the float32 tensors the
 * optimizer owns (LAMB's step and Muon's AdamW groups run on the multi-tensor kernels of
 * optimizer_kernels.ts). Like the kernels they write in place and are not recorded by autograd.
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
