/**
 * Fused optimizer steps (native/optim.cc): one pass over a float32 parameter updates it and
 * its state with PyTorch's single-tensor Adam/AdamW and SGD formulas, and with Lion's; the
 * multi-tensor kernels run them over lists of parameters. Here every step is computed in
 * float64 from the stored float32 values and rounded once when stored, so the result is the
 * exact update that native approximates to float32 rounding (Lion's native step computes in
 * float64 too, and gives these bits).
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

/** Throws unless every list holds `count` entries. */
function sameLengths(args: Args, count: number, lists: Record<string, readonly unknown[]>): void {
  for (const [name, list] of Object.entries(lists)) {
    args.requireType(Array.isArray(list), () => `argument '${name}' must be an array`);
    args.require(list.length === count, () => `${name} holds ${list.length} entries, params ${count}`);
  }
}

/**
 * adamStep over every parameter of the lists (paramsBf16's entries may be null); hyper holds one
 * row of adamStep's seven values per parameter. Every array is checked before any is written.
 *
 * @example
 * adamStepMulti([p1, p2], [g1, g2], [m1, m2], [v1, v2], [null, null], hyperRows);
 */
export const adamStepMulti: Kernels["adamStepMulti"] = (params, grads, expAvgs, expAvgSqs, paramsBf16, hyper) => {
  const args = new Args("adamStepMulti");
  args.requireType(Array.isArray(params), () => "argument 'params' must be an array");
  const count = params.length;
  sameLengths(args, count, { grads, expAvgs, expAvgSqs, paramsBf16 });
  const h = args.doubles("hyper", hyper, 7 * count);
  params.forEach((p, k) => {
    const n = args.elements(`params[${k}]`, p, DTYPE.float32);
    args.sized(`grads[${k}]`, grads[k], DTYPE.float32, n);
    args.sized(`expAvgs[${k}]`, expAvgs[k], DTYPE.float32, n);
    args.sized(`expAvgSqs[${k}]`, expAvgSqs[k], DTYPE.float32, n);
    if (paramsBf16[k] !== null && paramsBf16[k] !== undefined) args.sized(`paramsBf16[${k}]`, paramsBf16[k], DTYPE.bfloat16, n);
    args.require(h[7 * k + 5]! >= 1, () => `step must be at least 1, got ${h[7 * k + 5]}`);
  });
  params.forEach((p, k) => adamStep(p, grads[k]!, expAvgs[k]!, expAvgSqs[k]!, paramsBf16[k] ?? null, h.subarray(7 * k, 7 * k + 7)));
};

/**
 * Lion (Chen et al.) over every parameter of the lists: p ← p·(1 − lr·wd) − lr·sign(β1·m +
 * (1 − β1)·g), then m ← β2·m + (1 − β2)·g; hyper holds one row [lr, beta1, beta2, weightDecay]
 * per parameter.
 *
 * @example
 * lionStepMulti([p], [g], [m], Float64Array.of(1e-4, 0.9, 0.99, 0));
 */
export const lionStepMulti: Kernels["lionStepMulti"] = (params, grads, expAvgs, hyper) => {
  const args = new Args("lionStepMulti");
  args.requireType(Array.isArray(params), () => "argument 'params' must be an array");
  const count = params.length;
  sameLengths(args, count, { grads, expAvgs });
  const h = args.doubles("hyper", hyper, 4 * count);
  params.forEach((p, k) => {
    const n = args.elements(`params[${k}]`, p, DTYPE.float32);
    args.sized(`grads[${k}]`, grads[k], DTYPE.float32, n);
    args.sized(`expAvgs[${k}]`, expAvgs[k], DTYPE.float32, n);
  });
  params.forEach((w, k) => {
    const [lr, beta1, beta2, wd] = h.subarray(4 * k, 4 * k + 4) as unknown as [number, number, number, number];
    const g = grads[k]!,
      m = expAvgs[k]!;
    const decay = 1 - lr * wd;
    for (let i = 0; i < w.length; i++) {
      const c = beta1 * m[i]! + (1 - beta1) * g[i]!;
      w[i] = w[i]! * decay - lr * Math.sign(c);
      m[i] = beta2 * m[i]! + (1 - beta2) * g[i]!;
    }
  });
};

/**
 * LAMB (You et al.) over every parameter of the lists: m and v advanced as Adam's, the
 * direction u = m / (1 − β1^step) / (√(v / (1 − β2^step)) + eps) + weightDecay·w (each value
 * rounded to float32 as stored), then w ← w − lr·(‖w‖ / ‖u‖)·u, the ratio 1 when either norm is
 * 0; hyper holds one row [lr, beta1, beta2, eps, weightDecay, step] per parameter.
 *
 * @example
 * lambStepMulti([p], [g], [m], [v], Float64Array.of(1e-3, 0.9, 0.999, 1e-6, 0.01, 1));
 */
export const lambStepMulti: Kernels["lambStepMulti"] = (params, grads, expAvgs, expAvgSqs, hyper) => {
  const args = new Args("lambStepMulti");
  args.requireType(Array.isArray(params), () => "argument 'params' must be an array");
  const count = params.length;
  sameLengths(args, count, { grads, expAvgs, expAvgSqs });
  const h = args.doubles("hyper", hyper, 6 * count);
  params.forEach((p, k) => {
    const n = args.elements(`params[${k}]`, p, DTYPE.float32);
    args.sized(`grads[${k}]`, grads[k], DTYPE.float32, n);
    args.sized(`expAvgs[${k}]`, expAvgs[k], DTYPE.float32, n);
    args.sized(`expAvgSqs[${k}]`, expAvgSqs[k], DTYPE.float32, n);
    args.require(h[6 * k + 5]! >= 1, () => `step must be at least 1, got ${h[6 * k + 5]}`);
  });
  params.forEach((w, k) => {
    const [lr, beta1, beta2, eps, wd, step] = h.subarray(6 * k, 6 * k + 6) as unknown as number[] as [number, number, number, number, number, number];
    const g = grads[k]!,
      m = expAvgs[k]!,
      v = expAvgSqs[k]!;
    const u = new Float32Array(w.length);
    const correct1 = 1 - beta1 ** step,
      correct2 = 1 - beta2 ** step;
    let ww = 0,
      uu = 0;
    for (let i = 0; i < w.length; i++) {
      m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
      v[i] = beta2 * v[i]! + (1 - beta2) * g[i]! * g[i]!;
      u[i] = m[i]! / correct1 / (Math.sqrt(v[i]! / correct2) + eps) + wd * w[i]!;
      ww += w[i]! * w[i]!;
      uu += u[i]! * u[i]!;
    }
    const alpha = -lr * (ww > 0 && uu > 0 ? Math.sqrt(ww) / Math.sqrt(uu) : 1);
    for (let i = 0; i < w.length; i++) w[i] = w[i]! + alpha * u[i]!;
  });
};
