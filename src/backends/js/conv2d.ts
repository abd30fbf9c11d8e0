/**
 * 2-D convolution (PyTorch's F.conv2d) and its two gradients in plain TypeScript: every
 * multiply-add of native/conv.cc's oneDNN primitives, summed in float64 and rounded once when
 * stored. NCHW or NHWC activations, OIHW weights, groups, strides, padding and dilation; f32,
 * bf16 or f16 operands with an f32 bias, as the native backend takes them (its f16 through f32).
 */
import type { TypedArray } from "../dtype.js";
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { forEachTap, readConvShape, type ConvShape } from "./conv_shape.js";
import { decode, DTYPE, dtypeName, encode } from "./dtype.js";
import { optionalF32 } from "./kernel_args.js";

/**
 * The convolution's output y (NCHW or NHWC, as the meta says) in float64, bias included.
 *
 * @example
 * const y = convolve(shape, decode(DTYPE.float32, x), decode(DTYPE.float32, w), bias);
 */
export function convolve(s: ConvShape, x: Float64Array, w: Float64Array, bias: Float32Array | null): Float64Array {
  const y = new Float64Array(s.yNumel);
  forEachTap(s, (xi, wi, yi) => {
    y[yi]! += x[xi]! * w[wi]!;
  });
  if (bias) {
    const outerPerChannel = s.channelsLast ? 1 : s.oh * s.ow;
    for (let i = 0; i < y.length; i++) y[i]! += bias[Math.floor(i / outerPerChannel) % s.o]!;
  }
  return y;
}

/**
 * The weight gradient dw [O, C/groups, kh, kw] and the bias gradient (each output channel's
 * sum of dy) in float64, from x and the output gradient dy (both as decoded numbers).
 *
 * @example
 * const { dw, dbias } = convWeightGradients(shape, x, dy);
 */
export function convWeightGradients(s: ConvShape, x: Float64Array, dy: Float64Array): { dw: Float64Array; dbias: Float64Array } {
  const dw = new Float64Array(s.wNumel);
  forEachTap(s, (xi, wi, yi) => {
    dw[wi]! += x[xi]! * dy[yi]!;
  });
  const dbias = new Float64Array(s.o);
  const outerPerChannel = s.channelsLast ? 1 : s.oh * s.ow;
  for (let i = 0; i < dy.length; i++) dbias[Math.floor(i / outerPerChannel) % s.o]! += dy[i]!;
  return { dw, dbias };
}

/**
 * y = conv2d(x, w) + bias; meta = [N, C, H, W, O, kh, kw, strideH, strideW, padH, padW,
 * dilationH, dilationW, groups, layout].
 *
 * @example
 * const y = new Float32Array(1);
 * conv2d(Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 1, 1, 1), null, y, 0, Int32Array.of(1, 1, 2, 2, 1, 2, 2, 1, 1, 0, 0, 1, 1, 1, 0)); // y = [10]
 */
export const conv2d: Kernels["conv2d"] = (x, w, bias, y, dtype, meta) => {
  const args = new Args("conv2d");
  const type = args.floatDtype("dtype", dtype);
  writeConvolution(args, readConvShape(args, meta), { x, w, bias, y }, type);
};

/** Checks the operands' sizes against the shape and writes the convolution into y. */
function writeConvolution(
  args: Args,
  s: ConvShape,
  { x, w, bias, y }: { x: TypedArray; w: TypedArray; bias: Float32Array | null; y: TypedArray },
  type: number,
): void {
  args.sized("x", x, type, s.xNumel);
  args.sized("weight", w, type, s.wNumel);
  const b = optionalF32(args, "bias", bias, s.o);
  args.sized("y", y, type, s.yNumel);
  encode(type, convolve(s, decode(type, x), decode(type, w), b), y);
}

/**
 * dx = the input gradient of conv2d from dy (overwritten); meta as conv2d's.
 *
 * @example
 * const dx = new Float32Array(4);
 * conv2dBackwardData(Float32Array.of(1), Float32Array.of(1, 2, 3, 4), dx, 0, Int32Array.of(1, 1, 2, 2, 1, 2, 2, 1, 1, 0, 0, 1, 1, 1, 0)); // dx = [1, 2, 3, 4]
 */
export const conv2dBackwardData: Kernels["conv2dBackwardData"] = (dy, w, dx, dtype, meta) => {
  const args = new Args("conv2d backward-data");
  const type = args.floatDtype("dtype", dtype);
  const s = readConvShape(args, meta);
  args.sized("dy", dy, type, s.yNumel);
  args.sized("weight", w, type, s.wNumel);
  args.sized("dx", dx, type, s.xNumel);
  const g = decode(type, dy),
    wv = decode(type, w);
  const acc = new Float64Array(s.xNumel);
  forEachTap(s, (xi, wi, yi) => {
    acc[xi]! += g[yi]! * wv[wi]!;
  });
  encode(type, acc, dx);
};

/**
 * dw (f32, or the operands' dtype) and the f32 bias gradient of conv2d, overwritten; meta as
 * conv2d's.
 *
 * @example
 * const dw = new Float32Array(4), dbias = new Float32Array(1);
 * conv2dBackwardWeights(Float32Array.of(1, 2, 3, 4), Float32Array.of(2), dw, dbias, 0, 0, Int32Array.of(1, 1, 2, 2, 1, 2, 2, 1, 1, 0, 0, 1, 1, 1, 0)); // dw = [2, 4, 6, 8], dbias = [2]
 */
export const conv2dBackwardWeights: Kernels["conv2dBackwardWeights"] = (x, dy, dw, dbias, dtype, dwDtype, meta) => {
  const args = new Args("conv2d backward-weights");
  const type = args.floatDtype("dtype", dtype);
  const wgradType = args.floatDtype("dwDtype", dwDtype);
  args.require(
    wgradType === DTYPE.float32 || wgradType === type,
    () => `a ${dtypeName(wgradType)} weight gradient needs ${dtypeName(wgradType)} operands, got ${dtypeName(type)}`,
  );
  writeWeightGradients(args, readConvShape(args, meta), { x, dy, dw, dbias }, type, wgradType);
};

/** Checks the operands' sizes against the shape and writes the weight and bias gradients. */
function writeWeightGradients(
  args: Args,
  s: ConvShape,
  { x, dy, dw, dbias }: { x: TypedArray; dy: TypedArray; dw: TypedArray; dbias: Float32Array | null },
  type: number,
  wgradType: number,
): void {
  args.sized("x", x, type, s.xNumel);
  args.sized("dy", dy, type, s.yNumel);
  args.sized("dw", dw, wgradType, s.wNumel);
  const db = optionalF32(args, "dbias", dbias, s.o);
  const grads = convWeightGradients(s, decode(type, x), decode(type, dy));
  encode(wgradType, grads.dw, dw);
  if (db) db.set(grads.dbias);
}

/** The checks of the native backend's patch-and-product kernels: float32, channels-last, ungrouped. */
function gemmShape(args: Args, dtype: number, meta: Int32Array): ConvShape {
  const type = args.floatDtype("dtype", dtype);
  args.require(type === DTYPE.float32, () => `the products take float32 only, got ${dtypeName(type)}`);
  const s = readConvShape(args, meta);
  args.require(s.channelsLast && s.groups === 1, () => "the products take NHWC ungrouped convolutions only");
  return s;
}

/**
 * conv2d restricted as the native backend's patch-and-product version is: float32 operands,
 * channels-last, ungrouped; the same sums.
 * @example
 * const y = new Float32Array(1);
 * conv2dGemm(Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 1, 1, 1), null, y, 0, Int32Array.of(1, 1, 2, 2, 1, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1)); // y = [10]
 */
export const conv2dGemm: Kernels["conv2dGemm"] = (x, w, bias, y, dtype, meta) => {
  const args = new Args("conv2d (gemm)");
  writeConvolution(args, gemmShape(args, dtype, meta), { x, w, bias, y }, DTYPE.float32);
};

/**
 * conv2dBackwardWeights restricted as the native backend's patch-and-product version is: float32
 * operands, channels-last, ungrouped; the same sums.
 * @example
 * const dw = new Float32Array(4);
 * conv2dBackwardWeightsGemm(Float32Array.of(1, 2, 3, 4), Float32Array.of(2), dw, null, 0, 0, Int32Array.of(1, 1, 2, 2, 1, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1)); // dw = [2, 4, 6, 8]
 */
export const conv2dBackwardWeightsGemm: Kernels["conv2dBackwardWeightsGemm"] = (x, dy, dw, dbias, dtype, dwDtype, meta) => {
  const args = new Args("conv2d backward-weights (gemm)");
  const s = gemmShape(args, dtype, meta);
  const wgradType = args.floatDtype("dwDtype", dwDtype);
  args.require(wgradType === DTYPE.float32, () => `the products take float32 only, got ${dtypeName(wgradType)}`);
  writeWeightGradients(args, s, { x, dy, dw, dbias }, DTYPE.float32, DTYPE.float32);
};
