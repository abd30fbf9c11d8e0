/**
 * What the tests of the js backend's compute kernels (matmul, convolution, pooling, layer norm,
 * attention) add to kernel_check.ts: operands drawn from a seeded stream, small integers (whose
 * sums are exact, so ties are real ties on both sides), and absolute values for error bounds.
 *
 * The bounds: native sums K products in float32, so its result is off the exact one by at most
 * about K·u·Σ|a·b| (u = 2^-24; the classic bound for recursive summation, which blocked and
 * vectorised sums only improve), while the js kernel sums in float64 and rounds once. Tests get
 * Σ|a·b| by running the js kernel on |a| and |b| and allow (K + 2)·u·Σ|a·b| through
 * assertNearNative: a plausible mistake (a tap too many, a missing scale) moves a result by a
 * whole term, far outside it.
 */
import type { Elements } from "../../../src/backends/js/dtype.js";
import { decode } from "../../../src/backends/js/dtype.js";
import type { Rng } from "../../../src/data/random.js";
import { makeArray } from "./kernel_check.js";

/** `n` values uniform in [−scale, scale) from `rng`, stored as `dtype`. */
export function random(rng: Rng, dtype: number, n: number, scale = 1): Elements {
  return makeArray(
    dtype,
    Array.from({ length: n }, () => (2 * rng.nextFloat() - 1) * scale),
  );
}

/** `n` integers uniform in [−range, range] from `rng`, stored as `dtype`. */
export function randomIntegers(rng: Rng, dtype: number, n: number, range: number): Elements {
  return makeArray(
    dtype,
    Array.from({ length: n }, () => Math.floor(rng.nextFloat() * (2 * range + 1)) - range),
  );
}

/** |a| element-wise as float32 (exact: every bf16 and f16 value is a float32). */
export function absF32(dtype: number, a: Elements): Float32Array {
  return Float32Array.from(decode(dtype, a), Math.abs);
}
