import type { Tensor } from "../tensor/tensor.js";
import { scaleInPlace } from "../ops/inplace.js";
import { clampInPlace, sumOfSquares } from "../ops/optimizer_kernels.js";

function grads(params: Iterable<Tensor>): Tensor[] {
  const out: Tensor[] = [];
  for (const p of params) if (p.grad) out.push(p.grad);
  return out;
}

/**
 * Turns this rank's part of a gradient norm into the whole model's: `partial` is the sum of
 * squares (2-norm) or the largest |g| (Infinity) over the gradients this rank holds. Where each
 * rank holds a different shard of the gradients it is an all-reduce with `op`; where every rank
 * holds them all (one process, DDP) it is the identity.
 */
export type NormCombine = (partial: number, op: "sum" | "max") => number;

/**
 * The norm of all gradients taken together (2-norm by default, or Infinity: the largest |g|),
 * over the ranks that `combine` joins (default: these gradients only).
 * @example const norm = gradNorm(model.parameters());
 */
export function gradNorm(params: Iterable<Tensor>, normType: 2 | typeof Infinity = 2, combine?: NormCombine): number {
  const gs = grads(params);
  if (normType === Infinity) {
    let m = 0;
    for (const g of gs) for (const v of g.toArray()) m = Math.max(m, Math.abs(v));
    return combine ? combine(m, "max") : m;
  }
  if (normType !== 2) throw new RangeError(`gradNorm: normType must be 2 or Infinity, got ${normType}`);
  let total = 0;
  for (const g of gs) total += sumOfSquares(g);
  return Math.sqrt(combine ? combine(total, "sum") : total);
}

/**
 * Scales all gradients so their global norm is at most maxNorm, as torch's clip_grad_norm_
 * (factor maxNorm / (norm + 1e-6), never above 1). Returns the norm before clipping. With
 * `combine` the norm spans every rank's shard (see NormCombine).
 *
 * @example
 * const norm = clipGradNorm(model.parameters(), 1.0);
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType: 2 | typeof Infinity = 2, combine?: NormCombine): number {
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be positive, got ${maxNorm}`);
  const list = [...params];
  const norm = gradNorm(list, normType, combine);
  const factor = maxNorm / (norm + 1e-6);
  if (factor < 1) for (const g of grads(list)) scaleInPlace(g, factor);
  return norm;
}

/** Clamps every gradient element into [-clipValue, clipValue]. @example clipGradValue(params, 0.5) */
export function clipGradValue(params: Iterable<Tensor>, clipValue: number): void {
  if (!(clipValue > 0)) throw new RangeError(`clipGradValue: clipValue must be positive, got ${clipValue}`);
  for (const g of grads(params)) clampInPlace(g, -clipValue, clipValue);
}
