/**
 * Random fills from turbine's Philox stream, bit-identical to native/random.cc: each element
 * depends only on (seed, offset, index). Uniform values keep as many top bits of their word as
 * the dtype's significand holds (so rounding never reaches 1); normal values are Box–Muller in
 * float64 on word pairs; integers are a multiply-shift of one word.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { fmaf } from "./c_math.js";
import { DTYPE, encode, type Elements } from "./dtype.js";
import { streamFor } from "./stream.js";

/** Checks a float fill's dtype, output and stream arguments; returns the dtype, count and words. */
function readFill(args: Args, dtype: number, out: Elements, seed: number, offset: number): { dt: number; n: number; words: Uint32Array } {
  const dt = args.floatDtype("dtype", dtype);
  const n = args.elements("out", out, dt);
  return { dt, n, words: streamFor(args, seed, offset, n) };
}

const UNIFORM_BITS: Record<number, number> = { [DTYPE.float32]: 24, [DTYPE.bfloat16]: 8, [DTYPE.float16]: 11 };

/**
 * out = low + (high − low)·u, u uniform in [0, 1), as native's float32 fused multiply-add.
 *
 * @example
 * const out = new Float32Array(4);
 * randomUniform(0, out, 1, 0, -1, 1); // the values native's randomUniform gives for seed 1
 */
export const randomUniform: Kernels["randomUniform"] = (dtype, out, seed, offset, low, high) => {
  const args = new Args("randomUniform");
  const { dt, n, words } = readFill(args, dtype, out, seed, offset);
  const lo = args.number("low", low),
    hi = args.number("high", high);
  args.require(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi, () => `bounds must be finite with low <= high, got [${lo}, ${hi})`);
  const bits = UNIFORM_BITS[dt]!;
  const base = Math.fround(lo),
    span = Math.fround(hi - lo);
  const values = new Float64Array(n);
  // Native's loop compiles to one fused multiply-add per element (u has at most 24 bits, so
  // the product is exact and fmaf emulates it).
  for (let i = 0; i < n; i++) values[i] = fmaf(span, (words[i]! >>> (32 - bits)) * 2 ** -bits, base);
  encode(dt, values, out);
};

/**
 * out = mean + std·z, z standard normal: Box–Muller on the word pairs (2k, 2k + 1) with
 * u1 = (w + 1)/2^32 in (0, 1].
 *
 * @example
 * const out = new Float32Array(4);
 * randomNormal(0, out, 1, 0, 0, 1); // the values native's randomNormal gives for seed 1
 */
export const randomNormal: Kernels["randomNormal"] = (dtype, out, seed, offset, mean, std) => {
  const args = new Args("randomNormal");
  const { dt, n, words } = readFill(args, dtype, out, seed, offset);
  const mu = args.number("mean", mean),
    sigma = args.number("std", std);
  args.require(Number.isFinite(mu) && Number.isFinite(sigma) && sigma >= 0, () => `mean must be finite and std finite and >= 0, got ${mu} and ${sigma}`);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log((words[i]! + 1) * 2 ** -32));
    const theta = 2 * Math.PI * words[i + 1]! * 2 ** -32;
    values[i] = mu + sigma * r * Math.cos(theta);
    if (i + 1 < n) values[i + 1] = mu + sigma * r * Math.sin(theta);
  }
  encode(dt, values, out);
};

/**
 * out = integers uniform in [low, high): low + ⌊w·(high − low)/2^32⌋ of one word w.
 *
 * @example
 * const out = new Int32Array(4);
 * randomInt(out, 1, 0, 0, 10); // the values native's randomInt gives for seed 1
 */
export const randomInt: Kernels["randomInt"] = (out, seed, offset, low, high) => {
  const args = new Args("randomInt");
  const n = args.elements("out", out, DTYPE.int32);
  const words = streamFor(args, seed, offset, n);
  const lo = args.integer("low", low),
    hi = args.integer("high", high);
  args.require(lo >= -(2 ** 31) && hi <= 2 ** 31 && lo < hi, () => `bounds must satisfy -2^31 <= low < high <= 2^31, got [${lo}, ${hi})`);
  const range = hi - lo;
  for (let i = 0; i < n; i++) {
    // ⌊w·range/2^32⌋ exactly: w·range can exceed 2^53, so w is split in 16-bit halves whose
    // products are exact, and the low half's bits below 2^16 cannot carry into the result.
    const w = words[i]!;
    out[i] = lo + Math.floor(((w >>> 16) * range + Math.floor(((w & 0xffff) * range) / 65536)) / 65536);
  }
};
