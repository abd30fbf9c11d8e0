/**
 * Casts between float32, bfloat16, float16 and int32, bit for bit as native/cast.cc: through
 * float32 bits, so NaN payloads survive as far as the target can hold them; floats round to
 * nearest even; float to int32 truncates toward zero, and NaN or a value outside int32 gives
 * −2^31, as PyTorch's conversion does on x86; int32 casts only to float32.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { bf16FromF32Bits } from "./bf16.js";
import { DTYPE, dtypeName, words, type Elements } from "./dtype.js";
import { f16FromF32Bits, f16ToF32Bits } from "./f16.js";

/** The float32 bits of each element of `src` (exact for every float dtype). */
function toF32Bits(dtype: number, src: Elements): Uint32Array {
  const n = src.length;
  if (dtype === DTYPE.float32) return words(src).slice() as Uint32Array;
  if (dtype === DTYPE.int32) return new Uint32Array(Float32Array.from(src).buffer); // int → nearest float32
  const bits = new Uint32Array(n);
  if (dtype === DTYPE.bfloat16) for (let i = 0; i < n; i++) bits[i] = src[i]! << 16;
  else for (let i = 0; i < n; i++) bits[i] = f16ToF32Bits(src[i]!);
  return bits;
}

/** float32 → int32 as native: truncation where representable, else INT32_MIN (NaN included). */
function toInt32(value: number): number {
  return value > -2147483904 && value < 2147483648 ? Math.trunc(value) : -2147483648;
}

/**
 * dst = src converted to dstDtype.
 *
 * @example
 * const dst = new Uint16Array(1);
 * cast(0, Float32Array.of(1 + 2 ** -8), 1, dst); // dst[0] === 0x3f80 (the tie rounds to even)
 */
export const cast: Kernels["cast"] = (srcDtype, src, dstDtype, dst) => {
  const args = new Args("cast");
  const from = args.dtype("srcDtype", srcDtype);
  const n = args.elements("src", src, from);
  const to = args.dtype("dstDtype", dstDtype);
  args.sized("dst", dst, to, n);
  if (from === to) {
    words(dst).set(words(src));
    return;
  }
  if (from === DTYPE.int32 && to !== DTYPE.float32) args.fail(`int32 casts only to float32, not ${dtypeName(to)}`);
  const bits = toF32Bits(from, src);
  if (to === DTYPE.float32) {
    words(dst).set(bits);
  } else if (to === DTYPE.int32) {
    const values = new Float32Array(bits.buffer);
    for (let i = 0; i < n; i++) dst[i] = toInt32(values[i]!);
  } else {
    const round = to === DTYPE.bfloat16 ? bf16FromF32Bits : f16FromF32Bits;
    for (let i = 0; i < n; i++) dst[i] = round(bits[i]!);
  }
};
