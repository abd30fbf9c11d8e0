/**
 * What every backend shares about element types: the typed array that stores them and the code
 * each dtype has in the kernel interface (the same numbers as native/dtype.h's DType). src/tensor
 * builds its dtype table on these, so the backends import nothing from above them.
 */

/** The typed array that stores a tensor's elements: float32, 16-bit words (bfloat16, float16), or int32. */
export type TypedArray = Float32Array | Uint16Array | Int32Array;

/** Dtype codes of the kernel interface. @example DTYPE_CODES.bfloat16 // 1 */
export const DTYPE_CODES = { float32: 0, bfloat16: 1, float16: 2, int32: 3 } as const;
