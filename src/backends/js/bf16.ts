/**
 * bfloat16 ⇄ float32 conversions, bit for bit as the native addon does them (native/dtype.h):
 * bf16 is the high half of a float32, rounded to nearest even; a NaN stays a NaN, made quiet,
 * with its sign and its high payload bits.
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The bf16 word of the float32 whose bits are `bits` (round to nearest even, NaN kept quiet). */
export function bf16FromF32Bits(bits: number): number {
  const u = bits >>> 0;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * The bf16 word of `value` rounded first to float32 and then to bf16, as native kernels store a
 * result they computed in float32 (two roundings, so the js backend writes the same words).
 *
 * @example
 * bf16FromNumber(1 + 2 ** -8); // 0x3f80: the tie rounds to the even word, 1.0
 */
export function bf16FromNumber(value: number): number {
  scratchF32[0] = value;
  return bf16FromF32Bits(scratchU32[0]!);
}

/** The value of a bf16 word. @example bf16ToNumber(0x3fc0); // 1.5 */
export function bf16ToNumber(word: number): number {
  scratchU32[0] = (word & 0xffff) << 16;
  return scratchF32[0]!;
}
