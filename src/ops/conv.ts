import { apply1, type OpDef } from "../autograd/op.js";
import { kernels, metaFields, packMeta } from "../backends/index.js";
import type { Kernels } from "../backends/kernels.js";
import type { ConvMetaField } from "../backends/meta.js";
import { tunedChoice } from "../backends/native/kernel_tuning.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { dt, requireFloat, requireSameDType } from "./util.js";
import { imageDims, imageShape, layoutCode, outputSize, pair, type Layout, type Pair } from "./window.js";

/** 2-D convolution on oneDNN (PyTorch's F.conv2d), with its gradients. */

export interface Conv2dOptions {
  /** Step of the window per axis (default 1). */
  stride?: Pair;
  /** Zeros added on both sides of each spatial axis (default 0). */
  padding?: Pair;
  /** Spacing between kernel taps (default 1: adjacent). */
  dilation?: Pair;
  /** Channel groups: input and output channels split into this many independent convolutions. */
  groups?: number;
  /** "nchw" (default) or "nhwc": x [N, H, W, C] and an output [N, H_out, W_out, O]; weights stay [O, C/groups, kh, kw]. */
  layout?: Layout;
}

export interface ConvAttrs {
  /** [N, C, H, W, O, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, groups, layout] */
  meta: Int32Array;
  outShape: number[];
}

export const convOp: OpDef<ConvAttrs> = {
  name: "conv2d",
  forward: ([x, w, bias], { meta, outShape }) => {
    requireSameDType("conv2d", x!, w!);
    const y = Tensor.empty(outShape, x!.dtype);
    const b = (bias?.data as Float32Array | undefined) ?? null;
    // Measured into y itself: the chosen kernel overwrites it.
    const products = productsFaster("forward", x!, w!.dtype, meta, b !== null, y.size, (native, gemm) =>
      (gemm ? native.conv2dGemm : native.conv2d)(x!.data, w!.data, b, y.data, dt(x!.dtype), meta),
    );
    (products ? kernels.conv2dGemm : kernels.conv2d)(x!.data, w!.data, b, y.data, dt(x!.dtype), meta);
    return { out: y, save: [x!, w!] };
  },
  backward: ({ saved: [x, w], attrs: { meta }, needsGrad }, [g]) => {
    let dx: Tensor | null = null;
    if (needsGrad[0]) {
      dx = Tensor.empty(x!.shape, x!.dtype);
      kernels.conv2dBackwardData(g!.data, w!.data, dx.data, dt(x!.dtype), meta);
    }
    // oneDNN computes the bias gradient only beside the weight gradient; when the weights are
    // frozen but the bias is not, the weight gradient is computed and dropped with the scope.
    let dw: Tensor | null = null,
      dbias: Tensor | null = null;
    if (needsGrad[1] || needsGrad[2]) {
      const weightGrad = Tensor.empty(w!.shape, w!.dtype);
      dbias = needsGrad[2] ? Tensor.empty([w!.shape[0]!], "float32") : null;
      const db = (dbias?.data as Float32Array | undefined) ?? null;
      const products = productsFaster("backward-weights", x!, w!.dtype, meta, db !== null, g!.size, (native, gemm) =>
        (gemm ? native.conv2dBackwardWeightsGemm : native.conv2dBackwardWeights)(x!.data, g!.data, weightGrad.data, db, dt(x!.dtype), dt(w!.dtype), meta),
      );
      (products ? kernels.conv2dBackwardWeightsGemm : kernels.conv2dBackwardWeights)(x!.data, g!.data, weightGrad.data, db, dt(x!.dtype), dt(w!.dtype), meta);
      dw = needsGrad[1] ? weightGrad : null;
    }
    return [dx, dw, dbias];
  },
};

/** Below this many floating-point operations a convolution is not worth measuring two ways. */
const MIN_MEASURED_FLOPS = 1 << 24;

/**
 * Whether a convolution's forward or weight gradient runs as patch copies and matrix products
 * (`conv2dGemm`, `conv2dBackwardWeightsGemm`) instead of oneDNN's kernel: only a float32
 * channels-last ungrouped convolution that the few-channel kernels do not take, of at least
 * 16 MFLOP, and only where the products measured faster on this CPU for this shape, the first
 * time it ran (`tunedChoice` runs `run(native, products)` both ways; cached per CPU model).
 * Both give the same sums in another order. `outputSize`: the elements of y (or dy).
 */
function productsFaster(
  kind: "forward" | "backward-weights",
  x: Tensor,
  weightDType: Tensor["dtype"],
  meta: Int32Array,
  bias: boolean,
  outputSize: number,
  run: (native: Kernels, products: boolean) => void,
): boolean {
  const field = (name: ConvMetaField): number => meta[metaFields.conv2d.fields[name]]!;
  const flops = 2 * outputSize * field("c") * field("kh") * field("kw");
  if (x.dtype !== "float32" || weightDType !== "float32" || field("layout") !== 1 || field("groups") !== 1 || flops < MIN_MEASURED_FLOPS) return false;
  if (kernels.conv2dDirectFits(dt(x.dtype), meta)) return false;
  const shape = Array.from(meta, String).join(",") + (bias ? " bias" : "");
  return tunedChoice(`conv2d ${kind}`, shape, ["onednn", "gemm"], (native, candidate) => run(native, candidate === "gemm")) === "gemm";
}

/**
 * Checks conv2d's operands and options (as conv2d names the op `op`) and gives the kernels'
 * meta and the output shape.
 */
export function convAttrs(op: string, x: Tensor, weight: Tensor, bias: Tensor | null | undefined, options: Conv2dOptions): ConvAttrs {
  requireFloat(x, op);
  const layout = options.layout ?? "nchw";
  const [n, c, h, w] = imageDims(x, op, layout);
  if (weight.ndim !== 4) throw new RangeError(`${op}: weight ${formatShape(weight.shape)} must be 4-D [O, C/groups, kh, kw]`);
  const [o, cPerGroup, kh, kw] = weight.shape as [number, number, number, number];
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`${op}: groups must be a positive integer, got ${groups}`);
  if (c % groups !== 0 || o % groups !== 0) {
    throw new RangeError(
      `${op}: groups ${groups} must divide the input channels ${c} and the output channels ${o} (input ${formatShape(x.shape)}, weight ${formatShape(weight.shape)})`,
    );
  }
  if (cPerGroup * groups !== c) {
    throw new RangeError(
      `${op}: input ${formatShape(x.shape)} has ${c} channels, but weight ${formatShape(weight.shape)} with groups ${groups} expects ${cPerGroup * groups}`,
    );
  }
  if (c === 0 || o === 0 || kh === 0 || kw === 0 || h === 0 || w === 0) {
    throw new RangeError(`${op}: input ${formatShape(x.shape)} and weight ${formatShape(weight.shape)} must have no empty axis except the batch`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== o || bias.dtype !== "float32")) {
    throw new RangeError(`${op}: bias must be float32 [${o}], got ${bias.dtype} ${formatShape(bias.shape)}`);
  }
  const win = {
    kernel: [kh, kw] as [number, number],
    stride: pair(options.stride ?? 1, "stride", op, 1),
    padding: pair(options.padding ?? 0, "padding", op, 0),
    dilation: pair(options.dilation ?? 1, "dilation", op, 1),
  };
  const [oh, ow] = outputSize(op, x.shape, [h, w], win);
  const [sh, sw] = win.stride,
    [ph, pw] = win.padding,
    [dh, dw] = win.dilation;
  const meta = packMeta(metaFields.conv2d, { n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups, layout: layoutCode(layout) });
  return { meta, outShape: imageShape(n, o, oh, ow, layout) };
}

/**
 * 2-D convolution with PyTorch's F.conv2d semantics: x [N, C, H, W], weight [O, C/groups, kh, kw],
 * optional float32 bias [O]; output [N, O, H_out, W_out] with
 * H_out = floor((H + 2·padding − dilation·(kh − 1) − 1)/stride) + 1. float32, or bfloat16 input
 * and weight (accumulated in float32, output in bfloat16); float16 is rounded like float16 (the
 * native backend computes it through float32: oneDNN has no float16 convolution on this CPU).
 * @example conv2d(x, w, b, { padding: 1 })                   // [8, 3, 32, 32] * [16, 3, 3, 3] -> [8, 16, 32, 32]
 * @example conv2d(x, dw, null, { stride: 2, groups: 16 })    // depthwise, halves H and W
 * @example conv2d(x, w, b, { layout: "nhwc" })              // [8, 32, 32, 3] * [16, 3, 3, 3] -> [8, 30, 30, 16]
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const op = "conv2d";
  return apply1(convOp, bias ? [x, weight, bias] : [x, weight], convAttrs(op, x, weight, bias, options));
}
