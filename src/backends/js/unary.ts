/**
 * Element-wise unary ops and their backward rules (native/unary.cc's table) for f32, bf16 and
 * f16, computed in float64 with exact constants and functions (GELU's erf included) and stored
 * with native's rounding. alpha, the scalar of scale, shift, pow, clamp_min and fill, is a
 * float32 as native reads it.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { cPow } from "./c_math.js";
import { UNARY_BACKWARD_OPS, UNARY_OPS } from "./codes.js";
import { decode, encode } from "./dtype.js";
import { erfc } from "./erf.js";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_COEFF = 0.044715;
const INV_SQRT_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

const sign = (x: number): number => (x > 0 ? 1 : 0) - (x < 0 ? 1 : 0);

/** 0.5·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³), written as σ(2u). */
function geluTanhGate(x: number): number {
  return 1 / (1 + Math.exp(-2 * SQRT_2_OVER_PI * (x + GELU_COEFF * x * x * x)));
}

/** GELU with erf, x·Φ(x), in float64. @example geluErf(0) // 0 */
export const geluErf = (x: number): number => 0.5 * x * erfc(-x * INV_SQRT_2);

/** GELU's derivative Φ(x) + x·φ(x), in float64. @example geluErfGrad(0) // 0.5 */
export const geluErfGrad = (x: number): number => 0.5 * erfc(-x * INV_SQRT_2) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);

type Forward = (x: number, alpha: number) => number;
type Backward = (g: number, s: number, alpha: number) => number;

const FORWARD: Record<(typeof UNARY_OPS)[number], Forward> = {
  neg: (x) => -x,
  exp: (x) => Math.exp(x),
  log: (x) => Math.log(x),
  sqrt: (x) => Math.sqrt(x),
  rsqrt: (x) => 1 / Math.sqrt(x),
  tanh: (x) => Math.tanh(x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  relu: (x) => (x > 0 ? x : 0),
  gelu_tanh: (x) => x * geluTanhGate(x),
  gelu_erf: geluErf,
  abs: (x) => Math.abs(x),
  sign,
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  scale: (x, alpha) => alpha * x,
  shift: (x, alpha) => x + alpha,
  pow: (x, alpha) => cPow(x, alpha),
  clamp_min: (x, alpha) => (x < alpha ? alpha : x),
  fill: (_x, alpha) => alpha,
};

// s is the saved value: the input x for relu, gelu_*, log, abs, square, pow, clamp_min; the
// output y for the others (as native/unary.cc's rules say).
const BACKWARD: Record<(typeof UNARY_BACKWARD_OPS)[number], Backward> = {
  relu: (g, x) => (x > 0 ? g : 0),
  gelu_tanh: (g, x) => {
    // d/dx x·s(x), s = σ(2u): s + x·2s(1 − s)·u'(x), since 1 − tanh² = 4s(1 − s).
    const s = geluTanhGate(x);
    return g * (s + 2 * x * s * (1 - s) * SQRT_2_OVER_PI * (1 + 3 * GELU_COEFF * x * x));
  },
  gelu_erf: (g, x) => g * geluErfGrad(x),
  tanh: (g, y) => g * (1 - y * y),
  sigmoid: (g, y) => g * y * (1 - y),
  exp: (g, y) => g * y,
  log: (g, x) => g / x,
  sqrt: (g, y) => g / (2 * y),
  rsqrt: (g, y) => -0.5 * g * y * y * y,
  abs: (g, x) => g * sign(x),
  square: (g, x) => 2 * g * x,
  reciprocal: (g, y) => -g * y * y,
  pow: (g, x, alpha) => (alpha === 0 ? 0 : g * alpha * cPow(x, alpha - 1)),
  clamp_min: (g, x, alpha) => (x < alpha ? 0 : g),
};

const FORWARD_BY_CODE = UNARY_OPS.map((name) => FORWARD[name]);
const BACKWARD_BY_CODE = UNARY_BACKWARD_OPS.map((name) => BACKWARD[name]);

/**
 * out = op(x) element-wise; out may be x.
 *
 * @example
 * const out = new Float32Array(2);
 * unary(unaryCodes().forward.relu!, 0, Float32Array.of(-1, 2), out, 0); // out: [0, 2]
 */
export const unary: Kernels["unary"] = (code, dtype, x, out, alpha) => {
  const args = new Args("unary");
  const f = args.lookup(FORWARD_BY_CODE, code, "unary op");
  const dt = args.floatDtype("dtype", dtype);
  args.sized("out", out, dt, args.elements("x", x, dt));
  const a = Math.fround(args.number("alpha", alpha));
  encode(
    dt,
    decode(dt, x).map((v) => f(v, a)),
    out,
  );
};

/**
 * out = the input gradient of op from grad and the saved input or output; out may alias either.
 *
 * @example
 * const out = new Float32Array(2);
 * unaryBackward(unaryCodes().backward.relu!, 0, Float32Array.of(5, 5), Float32Array.of(-1, 2), out, 0); // [0, 5]
 */
export const unaryBackward: Kernels["unaryBackward"] = (code, dtype, grad, saved, out, alpha) => {
  const args = new Args("unaryBackward");
  const f = args.lookup(BACKWARD_BY_CODE, code, "unary backward");
  const dt = args.floatDtype("dtype", dtype);
  const n = args.elements("grad", grad, dt);
  args.sized("saved", saved, dt, n);
  args.sized("out", out, dt, n);
  const a = Math.fround(args.number("alpha", alpha));
  const g = decode(dt, grad),
    s = decode(dt, saved);
  for (let i = 0; i < n; i++) g[i] = f(g[i]!, s[i]!, a);
  encode(dt, g, out);
};
