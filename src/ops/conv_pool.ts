import { isGradEnabled } from "../autograd/grad_mode.js";
import { apply1, type OpDef } from "../autograd/op.js";
import { kernels } from "../backends/index.js";
import { release } from "../tensor/scope.js";
import { Tensor } from "../tensor/tensor.js";
import { autocastLowDType } from "./autocast_hook.js";
import { convAttrs, conv2d, type ConvAttrs, type Conv2dOptions } from "./conv.js";
import { maxPool2d } from "./pool.js";
import { isFloating } from "../tensor/dtype.js";
import { dt, requireSameDType } from "./util.js";

/**
 * A convolution and the 2×2 max pooling after it as one op, where the direct few-channel
 * kernels take it (native/conv_few_channels.cc): the convolution's output, four times the
 * pooled one, is never written, and backward makes each row of its gradient in L1 from the
 * pooled gradient instead of scattering it to memory first.
 */
export const convMaxPoolOp: OpDef<ConvAttrs> = {
  name: "conv2dMaxPool",
  forward: ([x, w, bias], { meta, outShape }, recording) => {
    requireSameDType("conv2dMaxPool", x!, w!);
    const pooled = Tensor.empty(outShape, "float32");
    const codes = recording ? Tensor.empty(outShape, "int32") : null;
    kernels.conv2dMaxPool(
      x!.data as Float32Array,
      w!.data as Float32Array,
      (bias?.data as Float32Array | undefined) ?? null,
      pooled.data as Float32Array,
      (codes?.data as Int32Array | undefined) ?? null,
      meta,
    );
    return { out: pooled, save: [x!], scratch: codes ? [codes] : [] };
  },
  backward: ({ saved: [x, codes], attrs: { meta }, inputShapes, needsGrad }, [g]) => {
    // The op is chosen only when x needs no gradient (conv2dMaxPool below).
    if (!needsGrad[1] && !needsGrad[2]) return [null, null, null];
    const dw = Tensor.empty(inputShapes[1]!, "float32");
    const dbias = needsGrad[2] ? Tensor.empty(inputShapes[2]!, "float32") : null;
    kernels.conv2dMaxPoolBackwardWeights(
      x!.data as Float32Array,
      g!.data as Float32Array,
      codes!.data as Int32Array,
      dw.data as Float32Array,
      (dbias?.data as Float32Array | undefined) ?? null,
      meta,
    );
    return [null, needsGrad[1] ? dw : null, dbias];
  },
};

/**
 * maxPool2d(conv2d(x, weight, bias, options), 2, { layout }): the same values and gradients, in
 * one pass where the backend has a fused kernel for the convolution (`kernels.conv2dDirectFits`;
 * native: a float32 channels-last convolution without groups, with at most 4 input channels and
 * 16, 32, 48 or 64 outputs: a network's first layer on images), whose input needs no gradient,
 * outside a low-precision autocast. Otherwise it runs the two ops.
 * @example conv2dMaxPool(images, conv.weight, conv.bias, { layout: "nhwc" })   // [N, 28, 28, 1] -> [N, 13, 13, 32]
 */
export function conv2dMaxPool(x: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const inputNeedsGrad = x.requiresGrad && isGradEnabled();
  // The fused op has no input gradient, and under a low-precision autocast conv2d runs low.
  if (!inputNeedsGrad && autocastLowDType("conv2d") === null && isFloating(x.dtype)) {
    const attrs = convAttrs("conv2d", x, weight, bias, options);
    if (kernels.conv2dDirectFits(dt(x.dtype), attrs.meta)) {
      const [n, oh, ow, o] = attrs.outShape as [number, number, number, number];
      return apply1(convMaxPoolOp, bias ? [x, weight, bias] : [x, weight], { meta: attrs.meta, outShape: [n, Math.floor(oh / 2), Math.floor(ow / 2), o] });
    }
  }
  const y = conv2d(x, weight, bias, options);
  return release(maxPool2d(y, 2, { layout: options.layout }), y);
}
