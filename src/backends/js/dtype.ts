/**
 * The element types the js kernels take, by the codes the kernel interface uses, and the two
 * conversions every computing kernel is built on: decode an array into float64 numbers, and
 * encode numbers back with the rounding native kernels apply when they store (to float32, then
 * to bf16 or f16).
 */
import { bf16FromNumber, bf16ToNumber } from "./bf16.js";
import { f16FromNumber, f16ToNumber } from "./f16.js";

import { DTYPE_CODES, type TypedArray } from "../dtype.js";

/** A typed array that stores a tensor's elements: float32, 16-bit words, or int32. */
export type Elements = TypedArray;

/** Dtype codes of the kernel interface (the same numbers as native/dtype.h's DType). */
export const DTYPE = DTYPE_CODES;

const NAMES = ["float32", "bfloat16", "float16", "int32"] as const;

/** The dtype's name for messages; "unknown" for a code outside 0..3. */
export function dtypeName(code: number): string {
  return NAMES[code] ?? "unknown";
}

/**
 * The elements of `array` (stored as `dtype`) as float64 numbers, in a new array, so a kernel
 * may write an output that aliases its input.
 *
 * @example
 * decode(DTYPE.bfloat16, Uint16Array.of(0x3fc0)); // Float64Array [1.5]
 */
export function decode(dtype: number, array: Elements): Float64Array {
  const out = new Float64Array(array.length);
  if (dtype === DTYPE.bfloat16) for (let i = 0; i < array.length; i++) out[i] = bf16ToNumber(array[i]!);
  else if (dtype === DTYPE.float16) for (let i = 0; i < array.length; i++) out[i] = f16ToNumber(array[i]!);
  else out.set(array);
  return out;
}

/**
 * Stores `values` into `out` (of `dtype`) from element `start` on: float32 rounds to nearest
 * even; bf16 and f16 round to float32 first and then to 16 bits, as native kernels do with a
 * result computed in float32; int32 truncates like a typed array's store.
 *
 * @example
 * const out = new Uint16Array(1);
 * encode(DTYPE.bfloat16, [1.5], out); // out[0] === 0x3fc0
 */
export function encode(dtype: number, values: ArrayLike<number>, out: Elements, start = 0): void {
  if (dtype === DTYPE.bfloat16) for (let i = 0; i < values.length; i++) out[start + i] = bf16FromNumber(values[i]!);
  else if (dtype === DTYPE.float16) for (let i = 0; i < values.length; i++) out[start + i] = f16FromNumber(values[i]!);
  else for (let i = 0; i < values.length; i++) out[start + i] = values[i]!;
}

/** Stores one value as `encode` does. */
export function encodeOne(dtype: number, value: number, out: Elements, index: number): void {
  if (dtype === DTYPE.bfloat16) out[index] = bf16FromNumber(value);
  else if (dtype === DTYPE.float16) out[index] = f16FromNumber(value);
  else out[index] = value;
}

/**
 * The elements of `array` as unsigned words of their width (Uint32Array or Uint16Array over
 * the same memory): copies move these, so NaN payloads and -0 pass through bit for bit.
 */
export function words(array: Elements): Uint32Array | Uint16Array {
  if (array instanceof Uint16Array) return array;
  return new Uint32Array(array.buffer, array.byteOffset, array.length);
}
