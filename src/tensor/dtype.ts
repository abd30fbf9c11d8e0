import { DTYPE_CODES, type TypedArray } from "../backends/dtype.js";

export type { TypedArray };

/** Element types. bfloat16 and float16 are stored as 16-bit words in a Uint16Array. */
export type DType = "float32" | "bfloat16" | "float16" | "int32";

interface DTypeInfo {
  /** The code the kernels use for this dtype. */
  readonly code: number;
  readonly bytes: number;
  readonly floating: boolean;
  readonly array: Float32ArrayConstructor | Uint16ArrayConstructor | Int32ArrayConstructor;
}

export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  float32: { code: DTYPE_CODES.float32, bytes: 4, floating: true, array: Float32Array },
  bfloat16: { code: DTYPE_CODES.bfloat16, bytes: 2, floating: true, array: Uint16Array },
  float16: { code: DTYPE_CODES.float16, bytes: 2, floating: true, array: Uint16Array },
  int32: { code: DTYPE_CODES.int32, bytes: 4, floating: false, array: Int32Array },
};

/** Throws unless `value` names a dtype. */
export function checkDType(value: unknown, where: string): DType {
  if (typeof value === "string" && value in DTYPES) return value as DType;
  throw new TypeError(`${where}: unknown dtype ${JSON.stringify(value)}; expected one of ${Object.keys(DTYPES).join(", ")}`);
}

/** True for float32, bfloat16 and float16. */
export function isFloating(dtype: DType): boolean {
  return DTYPES[dtype].floating;
}
