import { kernels } from "../backends/index.js";
import { DTYPES } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";

/**
 * The fused kernels the optimizers, the gradient scaler and clipping run on tensors they own,
 * so src/optim never touches a tensor's memory itself. They are not recorded by autograd and,
 * like the kernels, write in place.
 */

/**
 * One fused Adam/AdamW update of the float32 parameter p and its moments, also writing low (a
 * bf16 copy of the result) when given; hyper = [lr, beta1, beta2, eps, weightDecay, step, decoupled].
 *
 * @example
 * adamStepInPlace(p, p.grad!, expAvg, expAvgSq, null, new Float64Array([1e-3, 0.9, 0.999, 1e-8, 0, 1, 1]));
 */
export function adamStepInPlace(p: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, low: Tensor | null, hyper: Float64Array): void {
  adamStepInPlaceWith(p, grad, low, expAvg.data as Float32Array, expAvgSq.data as Float32Array, hyper);
}

/**
 * adamStepInPlace with the moments given as plain float32 arrays of p.size elements: the step
 * of optimizer state kept outside tensors (offloaded to a file, read into a buffer). p may be
 * such an array too: an offloaded master's float32 values.
 *
 * @example
 * adamStepInPlaceWith(p, p.grad!, null, expAvgBuffer, expAvgSqBuffer, hyper);
 */
export function adamStepInPlaceWith(
  p: Tensor | Float32Array,
  grad: Tensor,
  low: Tensor | null,
  expAvg: Float32Array,
  expAvgSq: Float32Array,
  hyper: Float64Array,
): void {
  const master = p instanceof Float32Array ? p : (p.data as Float32Array);
  kernels.adamStep(master, grad.data as Float32Array, expAvg, expAvgSq, low && (low.data as Uint16Array), hyper);
}

/** The float32 storage of one tensor field of every update, for a multi-tensor kernel. */
function storages<U extends Record<K, Tensor>, K extends keyof U>(updates: readonly U[], key: K): Float32Array[] {
  return updates.map((u) => u[key].data as Float32Array);
}

/** One parameter of a multi-tensor Adam step: the float32 parameter, its gradient and moments, and its bf16 copy or null. */
export interface AdamTensors {
  p: Tensor;
  grad: Tensor;
  expAvg: Tensor;
  expAvgSq: Tensor;
  low: Tensor | null;
}

/**
 * The fused Adam/AdamW update of every parameter of `updates` in one kernel call, parameters
 * spread over the threads; bitwise what adamStepInPlace gives for each. hyper holds one row of
 * adamStepInPlace's seven values per parameter, in order.
 *
 * @example
 * adamStepsInPlace([{ p, grad: p.grad!, expAvg, expAvgSq, low: null }], Float64Array.of(1e-3, 0.9, 0.999, 1e-8, 0, 1, 1));
 */
export function adamStepsInPlace(updates: readonly AdamTensors[], hyper: Float64Array): void {
  const lows = updates.map((u) => (u.low ? (u.low.data as Uint16Array) : null));
  kernels.adamStepMulti(storages(updates, "p"), storages(updates, "grad"), storages(updates, "expAvg"), storages(updates, "expAvgSq"), lows, hyper);
}

/** One parameter of a multi-tensor Lion step: the float32 parameter, its gradient and momentum. */
export interface LionTensors {
  p: Tensor;
  grad: Tensor;
  expAvg: Tensor;
}

/**
 * The Lion update (Chen et al.) of every parameter of `updates` in one kernel call: p ←
 * p·(1 − lr·wd) − lr·sign(β1·m + (1 − β1)·g), then m ← β2·m + (1 − β2)·g, computed in float64
 * from the stored values; hyper holds one row [lr, beta1, beta2, weightDecay] per parameter.
 *
 * @example
 * lionStepsInPlace([{ p, grad: p.grad!, expAvg }], Float64Array.of(1e-4, 0.9, 0.99, 0));
 */
export function lionStepsInPlace(updates: readonly LionTensors[], hyper: Float64Array): void {
  kernels.lionStepMulti(storages(updates, "p"), storages(updates, "grad"), storages(updates, "expAvg"), hyper);
}

/** One parameter of a multi-tensor LAMB step: the float32 parameter, its gradient and moments. */
export interface LambTensors {
  p: Tensor;
  grad: Tensor;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/**
 * The LAMB update (You et al.) of every parameter of `updates` in one kernel call: Adam's
 * moments advanced, the direction u = m̂ / (√v̂ + eps) + weightDecay·p, then p ← p − lr·(‖p‖ /
 * ‖u‖)·u per parameter (the trust ratio, 1 when either norm is 0); hyper holds one row [lr,
 * beta1, beta2, eps, weightDecay, step] per parameter.
 *
 * @example
 * lambStepsInPlace([{ p, grad: p.grad!, expAvg, expAvgSq }], Float64Array.of(1e-3, 0.9, 0.999, 1e-6, 0.01, 1));
 */
export function lambStepsInPlace(updates: readonly LambTensors[], hyper: Float64Array): void {
  kernels.lambStepMulti(storages(updates, "p"), storages(updates, "grad"), storages(updates, "expAvg"), storages(updates, "expAvgSq"), hyper);
}

/**
 * One fused SGD update of the float32 parameter p; hyper = [lr, momentum, dampening,
 * weightDecay, nesterov, firstStep].
 *
 * @example
 * sgdStepInPlace(p, p.grad!, null, new Float64Array([0.1, 0, 0, 0, 0, 1]));
 */
export function sgdStepInPlace(p: Tensor, grad: Tensor, momentumBuffer: Tensor | null, hyper: Float64Array): void {
  kernels.sgdStep(p.data as Float32Array, grad.data as Float32Array, momentumBuffer && (momentumBuffer.data as Float32Array), hyper);
}

/** Σ x² over t's elements, accumulated in double. @example sumOfSquares(tensor([3, 4])); // 25 */
export function sumOfSquares(t: Tensor): number {
  return kernels.sumOfSquares(DTYPES[t.dtype].code, t.data);
}

/** Clamps t's elements into [low, high] in place. @example clampInPlace(g, -1, 1) */
export function clampInPlace(t: Tensor, low: number, high: number): void {
  kernels.clampInPlace(DTYPES[t.dtype].code, t.data, low, high);
}

/**
 * t *= invScale in place; returns whether t held an inf or NaN before (GradScaler's unscale).
 *
 * @example
 * const foundInf = unscaleAndCheck(p.grad!, 1 / 65536);
 */
export function unscaleAndCheck(t: Tensor, invScale: number): boolean {
  return kernels.unscaleAndCheck(DTYPES[t.dtype].code, t.data, invScale);
}
