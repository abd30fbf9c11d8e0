import { DTYPES, isFloating, type DType } from "../tensor/dtype.js";
import { formatShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

/** The native code of a dtype. */
export function dt(dtype: DType): number {
  return DTYPES[dtype].code;
}

/** Throws unless t has a floating dtype, naming the op. */
export function requireFloat(t: Tensor, op: string): void {
  if (!isFloating(t.dtype)) throw new TypeError(`${op}: expected a floating tensor, got ${t.dtype} ${formatShape(t.shape)}`);
}

/** Throws unless every tensor has the dtype of the first, naming the op. */
export function requireSameDType(op: string, ...tensors: Tensor[]): void {
  const first = tensors[0]!;
  for (const t of tensors) {
    if (t.dtype !== first.dtype) {
      throw new TypeError(`${op}: dtypes differ: ${tensors.map((x) => `${x.dtype} ${formatShape(x.shape)}`).join(" and ")}`);
    }
  }
}
