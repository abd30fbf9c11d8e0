/**
 * Fused optimizer steps (native/optim.cc): one pass over a float32 parameter updates it and
 * its state with PyTorch's single-tensor Adam/AdamW and SGD formulas. Here every step is
 * computed in float64 from the stored float32 values and rounded once when stored, so the
 * result is the exact update that native approximates to float32 rounding.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { bf16FromNumber } from "./bf16.js";
import { DTYPE } from "./dtype.js";

/**
 * Adam (weightDecay added to the gradient) or, with decoupled = 1, AdamW (the parameter decays
 * by lr·weightDecay first); hyper = [lr, beta1, beta2, eps, weightDecay, step, decoupled].
 * paramBf16, when given, receives the updated parameter rounded to bf16.
 *
 * @example
 * const p = Float32Array.of(1), m = new Float32Array(1), v = new Float32Array(1);
 * adamStep(p, Float32Array.of(0.5), m, v, null, Float64Array.of(0.1, 0.9, 0.999, 1e-8, 0, 1, 0)); // p ≈ [0.9]
 */
export const adamStep: Kernels["adamStep"] = (param, grad, expAvg, expAvgSq, paramBf16, hyper) => {
  const args = new Args("adamStep");
  const n = args.elements("param", param, DTYPE.float32);
  args.sized("grad", grad, DTYPE.float32, n);
  args.sized("expAvg", expAvg, DTYPE.float32, n);
  args.sized("expAvgSq", expAvgSq, DTYPE.float32, n);
  if (paramBf16 !== null) args.sized("paramBf16", paramBf16, DTYPE.bfloat16, n);
  const h = args.doubles("hyper", hyper, 7);
  const lr = h[0]!,
    beta1 = h[1]!,
    beta2 = h[2]!,
    eps = h[3]!,
    weightDecay = h[4]!,
    step = h[5]!;
  const decoupled = h[6] !== 0;
  args.require(step >= 1, () => `step must be at least 1, got ${step}`);
  const biasCorrection1 = 1 - beta1 ** step;
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
  for (let i = 0; i < n; i++) {
    let p = param[i]!;
    const g = !decoupled && weightDecay !== 0 ? grad[i]! + weightDecay * p : grad[i]!;
    if (decoupled) p *= 1 - lr * weightDecay;
    const m = beta1 * expAvg[i]! + (1 - beta1) * g;
    const v = beta2 * expAvgSq[i]! + (1 - beta2) * g * g;
    expAvg[i] = m;
    expAvgSq[i] = v;
    param[i] = p - ((lr / biasCorrection1) * m) / (Math.sqrt(v) / biasCorrection2Sqrt + eps);
    if (paramBf16 !== null) paramBf16[i] = bf16FromNumber(param[i]!);
  }
};

/**
 * SGD with optional momentum, dampening, weight decay and Nesterov; hyper = [lr, momentum,
 * dampening, weightDecay, nesterov, firstStep]. On the first step the buffer takes the
 * gradient itself, as PyTorch's does.
 *
 * @example
 * const p = Float32Array.of(1);
 * sgdStep(p, Float32Array.of(0.5), null, Float64Array.of(0.1, 0, 0, 0, 0, 1)); // p: [0.95]
 */
export const sgdStep: Kernels["sgdStep"] = (param, grad, momentumBuffer, hyper) => {
  const args = new Args("sgdStep");
  const n = args.elements("param", param, DTYPE.float32);
  args.sized("grad", grad, DTYPE.float32, n);
  if (momentumBuffer !== null) args.sized("momentumBuffer", momentumBuffer, DTYPE.float32, n);
  const h = args.doubles("hyper", hyper, 6);
  const lr = h[0]!,
    momentum = h[1]!,
    dampening = h[2]!,
    weightDecay = h[3]!,
    nesterov = h[4] !== 0,
    firstStep = h[5] !== 0;
  args.require(momentumBuffer !== null || Math.fround(momentum) === 0, () => `momentum ${momentum} needs a momentum buffer`);
  for (let i = 0; i < n; i++) {
    let d = weightDecay !== 0 ? grad[i]! + weightDecay * param[i]! : grad[i]!;
    if (momentumBuffer !== null) {
      const buf = firstStep ? d : momentumBuffer[i]! * momentum + (1 - dampening) * d;
      momentumBuffer[i] = buf;
      d = nesterov ? d + momentum * buf : buf;
    }
    param[i] = param[i]! - lr * d;
  }
};
