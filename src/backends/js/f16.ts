/**
 * float16 ⇄ float32 conversions, bit for bit as the native addon does them: IEEE binary16,
 * round to nearest even, subnormals kept, overflow to infinity. A NaN stays a NaN, made quiet,
 * with its sign and the high bits of its payload (what x86's F16C instructions, which the addon
 * uses where the CPU has them, do; native/dtype.h's portable path drops the payload).
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The f16 word of the float32 whose bits are `bits`. */
export function f16FromF32Bits(bits: number): number {
  const u = bits >>> 0;
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00 | ((a >>> 13) & 0x3ff);
  if (a >= 0x477ff000) return sign | 0x7c00; // rounds past the largest finite f16, 65504
  if (a < 0x38800000) {
    // Below the smallest normal f16 (2^-14): a multiple of the subnormal unit 2^-24. The
    // scaling is exact (a power of two), so only the rounding to an integer rounds.
    scratchU32[0] = a;
    return sign | roundHalfEven(scratchF32[0]! * 2 ** 24);
  }
  const exponent = (a >>> 23) - 127 + 15;
  let h = (exponent << 10) | ((a >>> 13) & 0x3ff);
  const rest = a & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++;
  return sign | h;
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x),
    frac = x - floor;
  if (frac > 0.5 || (frac === 0.5 && floor % 2 === 1)) return floor + 1;
  return floor;
}

/**
 * The f16 word of `value` rounded first to float32, as native kernels store a result they
 * computed in float32.
 *
 * @example
 * f16FromNumber(65520); // 0x7c00: rounds to infinity
 */
export function f16FromNumber(value: number): number {
  scratchF32[0] = value;
  return f16FromF32Bits(scratchU32[0]!);
}

/** The float32 bits of an f16 word (exact: every f16 is a float32; a NaN comes out quiet). */
export function f16ToF32Bits(word: number): number {
  const sign = (word & 0x8000) << 16;
  const exponent = (word >>> 10) & 0x1f;
  const mantissa = word & 0x3ff;
  if (exponent === 0x1f) return (sign | (mantissa === 0 ? 0x7f800000 : 0x7fc00000) | (mantissa << 13)) >>> 0; // NaN made quiet
  if (exponent !== 0) return (sign | ((exponent - 15 + 127) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  scratchF32[0] = mantissa * 2 ** -24; // a subnormal f16 is a normal float32
  return (sign | scratchU32[0]!) >>> 0;
}

/** The value of an f16 word. @example f16ToNumber(0x3c00); // 1 */
export function f16ToNumber(word: number): number {
  scratchU32[0] = f16ToF32Bits(word);
  return scratchF32[0]!;
}
