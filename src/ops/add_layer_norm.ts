import { apply, type OpDef } from "../autograd/op.js";
import { kernels } from "../backends/index.js";
import type { DType } from "../tensor/dtype.js";
import { formatShape, sameShape, sizeOf } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { cast } from "./cast.js";
import { checkLayerNormArgs, f32 } from "./norm.js";
import { dt, requireFloat } from "./util.js";

/**
 * The residual add and the LayerNorm after it as one op (native/add_layernorm.cc): one pass
 * writes the sum (the residual stream the next add reads) and its normalisation, and backward
 * adds the sum's own gradient to LayerNorm's input gradient in the same pass, writing each
 * summand's gradient in its dtype. The first input has the sum's dtype (the function orders the
 * summands), so a bfloat16 branch added to a float32 stream is read as it is, with no cast.
 */

interface AddLayerNormAttrs {
  normalizedShape: readonly number[];
  /** null: the sum's dtype. */
  outputDtype: DType | null;
  eps: number;
  hasWeight: boolean;
  hasBias: boolean;
}

export const addLayerNormOp: OpDef<AddLayerNormAttrs> = {
  name: "addLayerNorm",
  forward: (inputs, { normalizedShape, outputDtype, eps, hasWeight, hasBias }) => {
    const [x, r] = inputs as [Tensor, Tensor];
    const weight = hasWeight ? inputs[2]! : null;
    const bias = hasBias ? inputs[inputs.length - 1]! : null;
    const cols = sizeOf(normalizedShape);
    const rows = sizeOf(x.shape.slice(0, x.ndim - normalizedShape.length));
    const yDtype = outputDtype ?? x.dtype;
    const sum = Tensor.empty(x.shape, x.dtype);
    const y = Tensor.empty(x.shape, yDtype);
    const mean = Tensor.empty([rows, 2], "float32");
    const rstd = Tensor.empty([rows], "float32");
    kernels.addLayerNorm(
      dt(x.dtype),
      x.data,
      dt(r.dtype),
      r.data,
      f32(weight),
      f32(bias),
      sum.data,
      y.data,
      f32(mean)!,
      f32(rstd)!,
      rows,
      cols,
      eps,
      dt(yDtype),
    );
    return { out: [sum, y], save: weight ? [sum, weight] : [sum], scratch: [mean, rstd] };
  },
  backward: ({ saved, attrs: { normalizedShape, hasWeight, hasBias }, inputDtypes, needsGrad }, [gSum, gY]) => {
    const sum = saved[0]!;
    const weight = hasWeight ? saved[1]! : null;
    const [mean, rstd] = saved.slice(hasWeight ? 2 : 1) as [Tensor, Tensor];
    const dx = needsGrad[0] ? Tensor.empty(sum.shape, inputDtypes[0]!) : null;
    const dr = needsGrad[1] ? Tensor.empty(sum.shape, inputDtypes[1]!) : null;
    const dweight = hasWeight && needsGrad[2] ? Tensor.empty(normalizedShape, "float32") : null;
    const dbias = hasBias && needsGrad[hasWeight ? 3 : 2] ? Tensor.empty(normalizedShape, "float32") : null;
    kernels.addLayerNormBackward(
      dt(sum.dtype),
      gY!.data,
      dt(gY!.dtype),
      gSum!.data,
      sum.data,
      f32(weight),
      f32(mean)!,
      f32(rstd)!,
      dx?.data ?? null,
      dt(inputDtypes[1]!),
      dr?.data ?? null,
      f32(dweight),
      f32(dbias),
      mean.shape[0]!,
      sizeOf(normalizedShape),
    );
    const grads: (Tensor | null)[] = [dx, dr];
    if (hasWeight) grads.push(dweight);
    if (hasBias) grads.push(dbias);
    return grads;
  },
};

const WIDTH: Record<DType, number> = { float32: 2, bfloat16: 1, float16: 1, int32: 0 };

/**
 * [x + r, layerNorm(x + r, ...)]: the residual add of a pre-LayerNorm transformer and the norm
 * after it in one pass, both results returned (the next residual add needs the sum). The sum
 * takes the wider dtype (float32 for a bfloat16 branch of a float32 stream, as add promotes), the
 * normalisation is computed in float32 and stored in `outputDtype` (default the sum's); the other
 * arguments are layerNorm's. x and r must have one shape (no broadcasting).
 * @example const [h, normed] = addLayerNorm(h, attnOut, [256], ln.weight, ln.bias, 1e-5, "bfloat16");
 */
export function addLayerNorm(
  x: Tensor,
  r: Tensor,
  normalizedShape: readonly number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
  outputDtype?: DType,
): [Tensor, Tensor] {
  requireFloat(r, "addLayerNorm");
  const params = checkLayerNormArgs("addLayerNorm", x, normalizedShape, weight, bias, eps, outputDtype);
  if (!sameShape(x.shape, r.shape)) throw new RangeError(`addLayerNorm: x ${formatShape(x.shape)} and r ${formatShape(r.shape)} must have one shape`);
  const attrs = { normalizedShape: [...normalizedShape], outputDtype: outputDtype ?? null, eps, hasWeight: !!weight, hasBias: !!bias };
  // bfloat16 + float16 is float32, which neither summand is: x is widened first.
  const [wide, narrow] = WIDTH[x.dtype] >= WIDTH[r.dtype] ? [x, r] : [r, x];
  const mixedLow = x.dtype !== r.dtype && WIDTH[wide.dtype] === WIDTH[narrow.dtype];
  const first = mixedLow ? cast(wide, "float32") : wide;
  try {
    return apply(addLayerNormOp, [first, narrow, ...params], attrs) as [Tensor, Tensor];
  } finally {
    if (first !== wide) first.dispose();
  }
}
