/**
 * The element work of GradScaler's unscale (native/optim.cc), as PyTorch's
 * _amp_foreach_non_finite_check_and_unscale_: scales every element, even after finding an inf
 * or NaN, and reports whether it found one.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { decode, encode } from "./dtype.js";

/**
 * x *= invScale (read as float32) in place; returns whether x held an inf or NaN before.
 *
 * @example
 * const x = Float32Array.of(2, Infinity);
 * unscaleAndCheck(0, x, 0.5); // true; x: [1, Infinity]
 */
export const unscaleAndCheck: Kernels["unscaleAndCheck"] = (dtype, x, invScale) => {
  const args = new Args("unscaleAndCheck");
  const dt = args.floatDtype("dtype", dtype);
  args.elements("x", x, dt);
  const scale = Math.fround(args.number("invScale", invScale));
  const values = decode(dt, x);
  const nonFinite = values.some((v) => !Number.isFinite(v));
  encode(
    dt,
    values.map((v) => v * scale),
    x,
  );
  return nonFinite;
};
