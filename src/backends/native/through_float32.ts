/**
 * Low-precision matrix products and convolutions that oneDNN cannot run on this CPU, computed
 * through float32. oneDNN 2.6 has no float16 GEMM or convolution on CPUs without AVX512-FP16, and
 * no bfloat16 ones on CPUs without AVX-512 (Zen 3, Haswell to Skylake clients): these kernels widen
 * such operands to float32 copies (exact), run the float32 kernel (which accumulates in float32,
 * as oneDNN's low-precision kernels do), and round the result once, as PyTorch's CPU kernels do
 * without hardware support. It saves no time over float32, only memory where activations stay low.
 * Other dtypes go straight to the addon (one compare per call).
 */
import { packMeta } from "../meta.js";
import type { TypedArray } from "../dtype.js";
import type { Kernels } from "../kernels.js";

const F32 = 0;
const BF16 = 1;
const F16 = 2;

/** The kernels of the addon that take low-precision operands through float32. */
export type ThroughFloat32Kernels = Pick<Kernels, "matmul" | "matmulGelu" | "conv2d" | "conv2dBackwardData" | "conv2dBackwardWeights">;

/** Where each kernel wrapped here takes its dtype codes. */
const DTYPE_ARGUMENTS: Readonly<Record<keyof ThroughFloat32Kernels, readonly number[]>> = {
  matmul: [4, 5],
  matmulGelu: [4, 5],
  conv2d: [4],
  conv2dBackwardData: [3],
  conv2dBackwardWeights: [4, 5],
};

/**
 * Whether oneDNN runs bfloat16 products on this CPU: a 1×1 product, tried once. oneDNN's own
 * answer ("could not create a primitive descriptor") is the test, not a list of CPU flags.
 * @example oneDnnRunsBfloat16(addon) // false on an AMD EPYC 7003 (Zen 3)
 */
export function oneDnnRunsBfloat16(addon: Kernels): boolean {
  const one = new Uint16Array([0x3f80]);
  const meta = packMeta(addon.metaFields().matmul, {
    batchA: 1,
    batchB: 1,
    m: 1,
    n: 1,
    k: 1,
    transA: 0,
    transB: 0,
    accumulate: 0,
    runtimeM: 0,
    runtimeN: 0,
    runtimeK: 0,
    padA: 0,
    padB: 0,
  });
  try {
    addon.matmul(one, one, new Uint16Array(1), null, BF16, BF16, meta);
    return true;
  } catch (error) {
    if (error instanceof Error && /could not create a primitive descriptor/.test(error.message)) return false;
    throw error;
  }
}

/** The dtypes this CPU's oneDNN cannot multiply: float16 always, bfloat16 where it lacks AVX-512. @example lowDtypesOf(addon) // [2] or [1, 2] */
export function lowDtypesOf(addon: Kernels): number[] {
  return oneDnnRunsBfloat16(addon) ? [F16] : [BF16, F16];
}

/**
 * `addon`'s matmul, matmulGelu, conv2d and conv2d's gradients, taking operands of the dtype
 * codes `low` through float32, and `straight(name, args)`: whether that call goes to the addon's
 * own kernel unchanged (a compiled step's replay binds only those).
 * @example const { kernels } = throughFloat32(addon, lowDtypesOf(addon)); kernels.matmul(a16, b16, c16, null, 2, 2, meta);
 */
export function throughFloat32(
  addon: Kernels,
  low: readonly number[],
): { kernels: ThroughFloat32Kernels; straight: (name: string, args: readonly unknown[]) => boolean } {
  const isLow = (dtype: number): boolean => low.includes(dtype);
  const wideCode = (dtype: number): number => (isLow(dtype) ? F32 : dtype);
  const accumulate = addon.metaFields().matmul.fields.accumulate;
  const gelu = addon.unaryCodes().forward.gelu_erf!;
  /** A float32 copy of a low-precision array of `dtype`. */
  const widen = (x: TypedArray, dtype: number): Float32Array => {
    const out = new Float32Array(x.length);
    addon.cast(dtype, x, F32, out);
    return out;
  };
  /** Where a result of `dtype` is computed: itself, or a float32 copy (of its contents when they are read). */
  const wide = (x: TypedArray, dtype: number, read: boolean): TypedArray => (!isLow(dtype) ? x : read ? widen(x, dtype) : new Float32Array(x.length));
  /** An operand of `dtype` as the float32 kernel takes it. */
  const operand = (x: TypedArray, dtype: number): TypedArray => (isLow(dtype) ? widen(x, dtype) : x);
  const narrow = (wideResult: TypedArray, into: TypedArray, dtype: number): void => {
    if (isLow(dtype)) addon.cast(F32, wideResult, dtype, into);
  };
  const matmul: Kernels["matmul"] = (a, b, c, bias, dtypeAB, dtypeC, meta) => {
    if (!isLow(dtypeAB) && !isLow(dtypeC)) return addon.matmul(a, b, c, bias, dtypeAB, dtypeC, meta);
    const c32 = wide(c, dtypeC, meta[accumulate] !== 0);
    addon.matmul(operand(a, dtypeAB), operand(b, dtypeAB), c32, bias, wideCode(dtypeAB), wideCode(dtypeC), meta);
    narrow(c32, c, dtypeC);
  };
  const kernels: ThroughFloat32Kernels = {
    matmul,
    matmulGelu: (a, b, c, bias, dtypeAB, dtypeC, meta, preActivation) => {
      if (!isLow(dtypeAB) && !isLow(dtypeC)) return addon.matmulGelu(a, b, c, bias, dtypeAB, dtypeC, meta, preActivation);
      if (!isLow(dtypeC)) return addon.matmulGelu(operand(a, dtypeAB), operand(b, dtypeAB), c, bias, F32, dtypeC, meta, preActivation);
      // As the addon's kernel: GELU of the stored (rounded) pre-activation, by the unary kernel.
      const pre = preActivation ?? new (c.constructor as new (n: number) => TypedArray)(c.length);
      matmul(a, b, pre, bias, dtypeAB, dtypeC, meta);
      addon.unary(gelu, dtypeC, pre, c, 0);
    },
    conv2d: (x, w, bias, y, dtype, meta) => {
      if (!isLow(dtype)) return addon.conv2d(x, w, bias, y, dtype, meta);
      const y32 = wide(y, dtype, false);
      addon.conv2d(widen(x, dtype), widen(w, dtype), bias, y32, F32, meta);
      narrow(y32, y, dtype);
    },
    conv2dBackwardData: (dy, w, dx, dtype, meta) => {
      if (!isLow(dtype)) return addon.conv2dBackwardData(dy, w, dx, dtype, meta);
      const dx32 = wide(dx, dtype, false);
      addon.conv2dBackwardData(widen(dy, dtype), widen(w, dtype), dx32, F32, meta);
      narrow(dx32, dx, dtype);
    },
    conv2dBackwardWeights: (x, dy, dw, dbias, dtype, dwDtype, meta) => {
      if (!isLow(dtype)) return addon.conv2dBackwardWeights(x, dy, dw, dbias, dtype, dwDtype, meta);
      const dw32 = wide(dw, dwDtype, false);
      addon.conv2dBackwardWeights(widen(x, dtype), widen(dy, dtype), dw32, dbias, F32, wideCode(dwDtype), meta);
      narrow(dw32, dw, dwDtype);
    },
  };
  const straight = (name: string, args: readonly unknown[]): boolean => {
    const positions = DTYPE_ARGUMENTS[name as keyof ThroughFloat32Kernels];
    return positions === undefined || positions.every((i) => !isLow(args[i] as number));
  };
  return { kernels, straight };
}
