/**
 * float16 matrix products and convolutions on the native backend: oneDNN 2.6 has no float16
 * GEMM or convolution on CPUs without AVX512-FP16, so these kernels widen their float16 operands
 * to float32 copies (exact), run the float32 kernel, and round the result to float16 once, as
 * PyTorch's CPU float16 does. It saves no time over float32, only memory where activations stay
 * float16. Other dtypes go straight to the addon (one compare per call).
 */
import type { TypedArray } from "../dtype.js";
import type { Kernels } from "../kernels.js";

const F32 = 0;
const F16 = 2;

/** The kernels of the addon that take float16 through float32. */
export type Float16Kernels = Pick<Kernels, "matmul" | "matmulGelu" | "conv2d" | "conv2dBackwardData" | "conv2dBackwardWeights">;

/** Where each kernel float16ThroughFloat32 wraps takes its dtype codes. */
const DTYPE_ARGUMENTS: Readonly<Record<keyof Float16Kernels, readonly number[]>> = {
  matmul: [4, 5],
  matmulGelu: [4, 5],
  conv2d: [4],
  conv2dBackwardData: [3],
  conv2dBackwardWeights: [4, 5],
};

/**
 * Whether the call `name(...args)` goes straight to the addon's own kernel: a kernel not wrapped
 * here, or a wrapped one with no float16 operand.
 * @example straightToAddon("matmul", [a, b, c, null, 0, 0, meta]) // true
 */
export function straightToAddon(name: string, args: readonly unknown[]): boolean {
  const positions = DTYPE_ARGUMENTS[name as keyof Float16Kernels];
  return positions === undefined || positions.every((i) => args[i] !== F16);
}

/**
 * matmul, matmulGelu, conv2d and conv2d's gradients of `addon`, taking float16 operands through float32.
 * @example const { matmul } = float16ThroughFloat32(addon); matmul(a16, b16, c16, null, 2, 2, meta);
 */
export function float16ThroughFloat32(addon: Kernels): Float16Kernels {
  const accumulate = addon.metaFields().matmul.fields.accumulate;
  /** A float32 copy of a float16 array. */
  const widen = (x: TypedArray): Float32Array => {
    const out = new Float32Array(x.length);
    addon.cast(F16, x, F32, out);
    return out;
  };
  /** Where a float16 result is computed: a float32 copy (of its contents when they are read). */
  const wide = (x: TypedArray, dtype: number, read: boolean): TypedArray => (dtype !== F16 ? x : read ? widen(x) : new Float32Array(x.length));
  const narrow = (wideResult: TypedArray, into: TypedArray, dtype: number): void => {
    if (dtype === F16) addon.cast(F32, wideResult, F16, into);
  };
  return {
    matmul: (a, b, c, bias, dtypeAB, dtypeC, meta) => {
      if (dtypeAB !== F16 && dtypeC !== F16) return addon.matmul(a, b, c, bias, dtypeAB, dtypeC, meta);
      const c32 = wide(c, dtypeC, meta[accumulate] !== 0);
      addon.matmul(wide(a, dtypeAB, true), wide(b, dtypeAB, true), c32, bias, dtypeAB === F16 ? F32 : dtypeAB, dtypeC === F16 ? F32 : dtypeC, meta);
      narrow(c32, c, dtypeC);
    },
    matmulGelu: (a, b, c, bias, dtypeAB, dtypeC, meta, preActivation) => {
      if (dtypeAB !== F16 && dtypeC !== F16) return addon.matmulGelu(a, b, c, bias, dtypeAB, dtypeC, meta, preActivation);
      const c32 = wide(c, dtypeC, false);
      const pre32 = preActivation && wide(preActivation, dtypeC, false);
      addon.matmulGelu(wide(a, dtypeAB, true), wide(b, dtypeAB, true), c32, bias, dtypeAB === F16 ? F32 : dtypeAB, dtypeC === F16 ? F32 : dtypeC, meta, pre32);
      narrow(c32, c, dtypeC);
      if (preActivation && pre32) narrow(pre32, preActivation, dtypeC);
    },
    conv2d: (x, w, bias, y, dtype, meta) => {
      if (dtype !== F16) return addon.conv2d(x, w, bias, y, dtype, meta);
      const y32 = wide(y, dtype, false);
      addon.conv2d(widen(x), widen(w), bias, y32, F32, meta);
      narrow(y32, y, dtype);
    },
    conv2dBackwardData: (dy, w, dx, dtype, meta) => {
      if (dtype !== F16) return addon.conv2dBackwardData(dy, w, dx, dtype, meta);
      const dx32 = wide(dx, dtype, false);
      addon.conv2dBackwardData(widen(dy), widen(w), dx32, F32, meta);
      narrow(dx32, dx, dtype);
    },
    conv2dBackwardWeights: (x, dy, dw, dbias, dtype, dwDtype, meta) => {
      if (dtype !== F16) return addon.conv2dBackwardWeights(x, dy, dw, dbias, dtype, dwDtype, meta);
      const dw32 = wide(dw, dwDtype, false);
      addon.conv2dBackwardWeights(widen(x), widen(dy), dw32, dbias, F32, dwDtype === F16 ? F32 : dwDtype, meta);
      narrow(dw32, dw, dwDtype);
    },
  };
}
