import { apply1, type OpDef } from "../autograd/op.js";
import { kernels, metaFields, packMeta } from "../backends/index.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { dt, requireFloat } from "./util.js";
import { imageDims, imageShape, layoutCode, outputSize, pair, type Layout, type Pair, type Window } from "./window.js";

/** 2-D max and average pooling over NCHW or NHWC tensors (PyTorch's F.max_pool2d, F.avg_pool2d). */

interface PoolAttrs {
  /** [N, C, H, W, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, layout] */
  meta: Int32Array;
  outShape: number[];
  countIncludePad: boolean;
}

/** Validates the window and computes the kernels' meta and the output shape. */
function poolAttrs(
  op: string,
  x: Tensor,
  kernel: Pair,
  stride: Pair | undefined,
  padding: Pair,
  dilation: Pair,
  countIncludePad: boolean,
  layout: Layout,
): PoolAttrs {
  requireFloat(x, op);
  const [n, c, h, w] = imageDims(x, op, layout);
  if (h === 0 || w === 0) throw new RangeError(`${op}: input ${formatShape(x.shape)} has an empty spatial axis`);
  const k = pair(kernel, "kernel", op, 1);
  const win: Window = {
    kernel: k,
    stride: pair(stride ?? k, "stride", op, 1),
    padding: pair(padding, "padding", op, 0),
    dilation: pair(dilation, "dilation", op, 1),
  };
  if (2 * win.padding[0] > k[0] || 2 * win.padding[1] > k[1]) {
    throw new RangeError(`${op}: padding ${formatShape(win.padding)} must be at most half the kernel ${formatShape(k)}`);
  }
  const [oh, ow] = outputSize(op, x.shape, [h, w], win);
  const [kh, kw] = k,
    [sh, sw] = win.stride,
    [ph, pw] = win.padding,
    [dh, dw] = win.dilation;
  const meta = packMeta(metaFields.pool2d, { n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, layout: layoutCode(layout) });
  return { meta, outShape: imageShape(n, c, oh, ow, layout), countIncludePad };
}

export const maxPoolOp: OpDef<PoolAttrs> = {
  name: "max_pool2d",
  forward: ([x], { meta, outShape }, recording) => {
    const y = Tensor.empty(outShape, x!.dtype);
    const indices = recording ? Tensor.empty(outShape, "int32") : null;
    kernels.maxPool2d(dt(x!.dtype), x!.data, y.data, (indices?.data as Int32Array | undefined) ?? null, meta);
    return { out: y, scratch: indices ? [indices] : [] };
  },
  backward: ({ saved: [indices], attrs: { meta }, inputShapes, inputDtypes }, [g]) => {
    const dx = Tensor.empty(inputShapes[0]!, inputDtypes[0]!);
    kernels.maxPool2dBackward(dt(dx.dtype), g!.data, indices!.data as Int32Array, dx.data, meta);
    return [dx];
  },
};

export const avgPoolOp: OpDef<PoolAttrs> = {
  name: "avg_pool2d",
  forward: ([x], { meta, outShape, countIncludePad }) => {
    const y = Tensor.empty(outShape, x!.dtype);
    kernels.avgPool2d(dt(x!.dtype), x!.data, y.data, meta, countIncludePad);
    return { out: y };
  },
  backward: ({ attrs: { meta, countIncludePad }, inputShapes, inputDtypes }, [g]) => {
    const dx = Tensor.empty(inputShapes[0]!, inputDtypes[0]!);
    kernels.avgPool2dBackward(dt(dx.dtype), g!.data, dx.data, meta, countIncludePad);
    return [dx];
  },
};

export interface MaxPool2dOptions {
  /** Step of the window (default: the kernel size). */
  stride?: Pair;
  /** Implicit −∞ on both sides of each axis, at most half the kernel (default 0). */
  padding?: Pair;
  /** Spacing between window taps (default 1). */
  dilation?: Pair;
  /** "nchw" (default) or "nhwc": x [N, H, W, C] and an output of the same layout. */
  layout?: Layout;
}

/**
 * Max over each window, PyTorch's F.max_pool2d (ceil_mode off): x [N, C, H, W] ->
 * [N, C, H_out, W_out]. The gradient goes to the first maximum of each window.
 * @example maxPool2d(x, 2)                             // [8, 32, 28, 28] -> [8, 32, 14, 14]
 * @example maxPool2d(x, 3, { stride: 2, padding: 1 })
 * @example maxPool2d(x, 2, { layout: "nhwc" })       // [8, 28, 28, 32] -> [8, 14, 14, 32]
 */
export function maxPool2d(x: Tensor, kernel: Pair, options: MaxPool2dOptions = {}): Tensor {
  return apply1(
    maxPoolOp,
    [x],
    poolAttrs("max_pool2d", x, kernel, options.stride, options.padding ?? 0, options.dilation ?? 1, false, options.layout ?? "nchw"),
  );
}

export interface AvgPool2dOptions {
  /** Step of the window (default: the kernel size). */
  stride?: Pair;
  /** Zeros on both sides of each axis, at most half the kernel (default 0). */
  padding?: Pair;
  /** Whether padded zeros count in each window's divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
  /** "nchw" (default) or "nhwc": x [N, H, W, C] and an output of the same layout. */
  layout?: Layout;
}

/**
 * Mean over each window, PyTorch's F.avg_pool2d (ceil_mode off): x [N, C, H, W] ->
 * [N, C, H_out, W_out].
 * @example avgPool2d(x, 2)                                              // [8, 32, 28, 28] -> [8, 32, 14, 14]
 * @example avgPool2d(x, 3, { stride: 1, padding: 1, countIncludePad: false })
 */
export function avgPool2d(x: Tensor, kernel: Pair, options: AvgPool2dOptions = {}): Tensor {
  return apply1(
    avgPoolOp,
    [x],
    poolAttrs("avg_pool2d", x, kernel, options.stride, options.padding ?? 0, 1, options.countIncludePad ?? true, options.layout ?? "nchw"),
  );
}
