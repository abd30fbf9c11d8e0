import { DTYPES } from "../tensor/dtype.js";
import { codes, kernels } from "../backends/index.js";
import { hostWrites } from "../tensor/host_write.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

/**
 * In-place updates that autograd and the optimizers use on tensors they own. They are not
 * recorded by autograd.
 */

const flatMeta = new Int32Array(4);

function checkSame(target: Tensor, source: Tensor, op: string): void {
  if (!sameShape(target.shape, source.shape) || target.dtype !== source.dtype) {
    throw new RangeError(`${op}: target ${formatShape(target.shape)} ${target.dtype} and source ${formatShape(source.shape)} ${source.dtype} differ`);
  }
}

/** out = a + b element-wise over same-shaped operands; out may be a. */
function addInto(out: Tensor, a: Tensor, b: Tensor, op: string): Tensor {
  checkSame(a, b, op);
  flatMeta[0] = 1;
  flatMeta[1] = a.size;
  flatMeta[2] = 1;
  flatMeta[3] = 1;
  kernels.binary(codes.binary.add!, DTYPES[a.dtype].code, a.data, b.data, out.data, flatMeta);
  return out;
}

/** target += source, element-wise, same shape and dtype. */
export function addInPlace(target: Tensor, source: Tensor): Tensor {
  addInto(target, target, source, "addInPlace");
  target.version++;
  return target;
}

/** A new tensor a + b, element-wise, same shape and dtype. @example const total = sumOf(g1, g2); */
export function sumOf(a: Tensor, b: Tensor): Tensor {
  return addInto(Tensor.empty(a.shape, a.dtype), a, b, "sumOf");
}

/** target *= factor. */
export function scaleInPlace(target: Tensor, factor: number): Tensor {
  kernels.unary(codes.unary.scale!, DTYPES[target.dtype].code, target.data, target.data, factor);
  target.version++;
  return target;
}

/** target[i] = value for every element. @example fillInPlace(p.grad!, 0) */
export function fillInPlace(target: Tensor, value: number): Tensor {
  kernels.unary(codes.unary.fill!, DTYPES[target.dtype].code, target.data, target.data, value);
  target.version++;
  return target;
}

/** target = source, element-wise copy, same shape and dtype. */
export function copyInto(target: Tensor, source: Tensor): Tensor {
  checkSame(target, source, "copyInto");
  target.data.set(source.data);
  hostWrites()?.copy(target.data, source.data);
  target.version++;
  return target;
}

/** A new tensor with a copy of t's elements. */
export function copyOf(t: Tensor): Tensor {
  const out = Tensor.empty(t.shape, t.dtype);
  out.data.set(t.data);
  hostWrites()?.copy(out.data, t.data);
  return out;
}

/**
 * target = source converted to target's dtype (rounding to nearest even between floats), element
 * by element; the two have the same number of elements. ZeRO-3 casts its master chunks to bf16
 * for the all-gather and the gathered bf16 back up with it.
 * @example castInto(Tensor.empty([n], "bfloat16"), master)
 */
export function castInto(target: Tensor, source: Tensor): Tensor {
  if (target.size !== source.size) throw new RangeError(`castInto: target of ${target.size} elements, source of ${source.size}`);
  kernels.cast(DTYPES[source.dtype].code, source.data, DTYPES[target.dtype].code, target.data);
  target.version++;
  return target;
}
