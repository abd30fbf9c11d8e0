import { apply1, type OpDef } from "../autograd/op.js";
import { DTYPES, type DType } from "../tensor/dtype.js";
import { kernels } from "../backends/index.js";
import { formatShape, sameShape, sizeOf } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { dt, requireFloat } from "./util.js";

/**
 * Layer normalisation on the native kernel, which saves each row's mean (as an f32 pair hi + lo,
 * see native/layernorm.cc) and 1/std for backward.
 */

interface LayerNormAttrs {
  normalizedShape: readonly number[];
  /** null: the dtype x has after autocast. */
  outputDtype: DType | null;
  eps: number;
  hasWeight: boolean;
  hasBias: boolean;
}

/** t's float32 storage, or null for no tensor. @example kernels.layerNorm(..., f32(weight), ...) */
export function f32(t: Tensor | null | undefined): Float32Array | null {
  return t ? (t.data as Float32Array) : null;
}

export const layerNormOp: OpDef<LayerNormAttrs> = {
  name: "layerNorm",
  forward: (inputs, { normalizedShape, outputDtype, eps, hasWeight, hasBias }) => {
    const x = inputs[0]!;
    const weight = hasWeight ? inputs[1]! : null;
    const bias = hasBias ? inputs[inputs.length - 1]! : null;
    const cols = sizeOf(normalizedShape);
    const rows = sizeOf(x.shape.slice(0, x.ndim - normalizedShape.length));
    const yDtype = outputDtype ?? x.dtype;
    const y = Tensor.empty(x.shape, yDtype);
    const mean = Tensor.empty([rows, 2], "float32");
    const rstd = Tensor.empty([rows], "float32");
    kernels.layerNorm(dt(x.dtype), x.data, f32(weight), f32(bias), y.data, f32(mean)!, f32(rstd)!, rows, cols, eps, dt(yDtype));
    return { out: y, save: weight ? [x, weight] : [x], scratch: [mean, rstd] };
  },
  backward: ({ saved, attrs: { normalizedShape, hasWeight, hasBias }, needsGrad }, [g]) => {
    const x = saved[0]!;
    const weight = hasWeight ? saved[1]! : null;
    const [mean, rstd] = saved.slice(hasWeight ? 2 : 1);
    const dx = needsGrad[0] ? Tensor.empty(x.shape, x.dtype) : null;
    const dweight = hasWeight && needsGrad[1] ? Tensor.empty(normalizedShape, "float32") : null;
    const dbias = hasBias && needsGrad[hasWeight ? 2 : 1] ? Tensor.empty(normalizedShape, "float32") : null;
    kernels.layerNormBackward(
      dt(x.dtype),
      g!.data,
      x.data,
      f32(weight),
      f32(mean)!,
      f32(rstd)!,
      dx?.data ?? null,
      f32(dweight),
      f32(dbias),
      mean!.shape[0]!,
      sizeOf(normalizedShape),
      dt(g!.dtype),
    );
    const grads: (Tensor | null)[] = [dx];
    if (hasWeight) grads.push(dweight);
    if (hasBias) grads.push(dbias);
    return grads;
  },
};

function checkParameter(op: string, p: Tensor, role: string, x: Tensor, normalizedShape: readonly number[]): void {
  if (p.dtype !== "float32" || !sameShape(p.shape, normalizedShape)) {
    throw new TypeError(
      `${op}: ${role} ${formatShape(p.shape)} ${p.dtype} must be float32 of normalizedShape ${formatShape(normalizedShape)} ` +
        `(input ${formatShape(x.shape)} ${x.dtype})`,
    );
  }
}

/**
 * Checks a layer norm's arguments as `op` (x floating, normalizedShape its trailing axes, eps,
 * float32 affine parameters of normalizedShape, a floating outputDtype) and returns the affine
 * parameters given, in order: the op's inputs after x.
 * @example const params = checkLayerNormArgs("layerNorm", x, [256], w, b, 1e-5, undefined);
 */
export function checkLayerNormArgs(
  op: string,
  x: Tensor,
  normalizedShape: readonly number[],
  weight: Tensor | null | undefined,
  bias: Tensor | null | undefined,
  eps: number,
  outputDtype: DType | undefined,
): Tensor[] {
  requireFloat(x, op);
  if (outputDtype !== undefined && !DTYPES[outputDtype]?.floating) throw new TypeError(`${op}: outputDtype must be a floating dtype, got ${outputDtype}`);
  const k = normalizedShape.length;
  if (k === 0 || k > x.ndim || !sameShape(x.shape.slice(x.ndim - k), normalizedShape)) {
    throw new RangeError(
      `${op}: normalizedShape ${formatShape(normalizedShape)} must be non-empty and match the trailing axes of input ${formatShape(x.shape)}`,
    );
  }
  if (typeof eps !== "number" || !(eps >= 0) || !Number.isFinite(eps)) {
    throw new RangeError(`${op}: eps must be a finite number >= 0, got ${eps}`);
  }
  const params: Tensor[] = [];
  if (weight) {
    checkParameter(op, weight, "weight", x, normalizedShape);
    params.push(weight);
  }
  if (bias) {
    checkParameter(op, bias, "bias", x, normalizedShape);
    params.push(bias);
  }
  return params;
}

/**
 * Normalises each slice over the last `normalizedShape.length` axes to zero mean and unit
 * (biased) variance, then scales by `weight` and shifts by `bias` when given, like PyTorch's
 * F.layer_norm. x may be float32, bfloat16 or float16 (computed in float32, y in x's dtype
 * unless `outputDtype` says otherwise); weight and bias are float32 parameters of shape
 * normalizedShape, with float32 gradients. A float32 x with a bfloat16 `outputDtype` is
 * F.layer_norm(...).to(torch.bfloat16) in one pass: the input a bfloat16 matmul reads next.
 * @example layerNorm(h, [256], gamma, beta)        // h [B, T, 256]
 * @example layerNorm(img, [4, 4])                  // no affine, over the last two axes
 * @example layerNorm(h, [256], gamma, beta, 1e-5, "bfloat16")
 */
export function layerNorm(
  x: Tensor,
  normalizedShape: readonly number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
  outputDtype?: DType,
): Tensor {
  const inputs = [x, ...checkLayerNormArgs("layerNorm", x, normalizedShape, weight, bias, eps, outputDtype)];
  return apply1(layerNormOp, inputs, { normalizedShape: [...normalizedShape], outputDtype: outputDtype ?? null, eps, hasWeight: !!weight, hasBias: !!bias });
}
