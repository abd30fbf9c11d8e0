/**
 * The element work of gradient clipping (native/optim.cc): Σ x² for a norm, accumulated in
 * float64, and clipping by value in place.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { decode, encode } from "./dtype.js";

/**
 * Σ x² in float64 (for global gradient norms).
 *
 * @example
 * sumOfSquares(0, Float32Array.of(3, 4)); // 25
 */
export const sumOfSquares: Kernels["sumOfSquares"] = (dtype, x) => {
  const args = new Args("sumOfSquares");
  const dt = args.floatDtype("dtype", dtype);
  args.elements("x", x, dt);
  let total = 0;
  for (const v of decode(dt, x)) total += v * v;
  return total;
};

/**
 * x = min(max(x, low), high) in place, low and high read as float32; NaN stays NaN.
 *
 * @example
 * const x = Float32Array.of(-5, 0.5, 5);
 * clampInPlace(0, x, -1, 1); // x: [-1, 0.5, 1]
 */
export const clampInPlace: Kernels["clampInPlace"] = (dtype, x, low, high) => {
  const args = new Args("clampInPlace");
  const dt = args.floatDtype("dtype", dtype);
  args.elements("x", x, dt);
  const lo = Math.fround(args.number("low", low)),
    hi = Math.fround(args.number("high", high));
  args.require(lo <= hi, () => `low ${lo} exceeds high ${hi}`);
  encode(
    dt,
    decode(dt, x).map((v) => (v < lo ? lo : v > hi ? hi : v)),
    x,
  );
};
