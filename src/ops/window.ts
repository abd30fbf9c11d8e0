import { formatShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

/** Sliding-window geometry shared by convolution and pooling over NCHW or NHWC tensors. */

/**
 * How a 4-D image batch is laid out: "nchw" (PyTorch's default, [N, C, H, W]) or "nhwc"
 * (channels last, [N, H, W, C]: each pixel's channels are contiguous, so kernels vectorise
 * over channels and oneDNN's convolutions need no activation reorders).
 */
export type Layout = "nchw" | "nhwc";

/** The native kernels' code of a layout. */
export const layoutCode = (layout: Layout): number => (layout === "nhwc" ? 1 : 0);

/** One value for both spatial axes, or [h, w]. */
export type Pair = number | readonly [number, number];

/**
 * Expands a number or [h, w] to [h, w], checking that both are integers of at least `min`.
 * @example pair(2, "stride", "conv2d", 1)        // [2, 2]
 */
export function pair(value: Pair, name: string, op: string, min: number): [number, number] {
  const hw = typeof value === "number" ? [value, value] : Array.isArray(value) && value.length === 2 ? [value[0], value[1]] : null;
  if (!hw || hw.some((v) => !Number.isInteger(v) || v < min)) {
    throw new RangeError(`${op}: ${name} must be an integer ≥ ${min} or a pair [h, w] of them, got ${JSON.stringify(value)}`);
  }
  return hw as [number, number];
}

/** [N, C, H, W] of a 4-D image batch in `layout`, or an error naming the op and the layout. */
export function imageDims(x: Tensor, op: string, layout: Layout = "nchw"): [number, number, number, number] {
  if (layout !== "nchw" && layout !== "nhwc") throw new RangeError(`${op}: layout must be "nchw" or "nhwc", got ${JSON.stringify(layout)}`);
  if (x.ndim !== 4) throw new RangeError(`${op}: input ${formatShape(x.shape)} must be 4-D ${layout === "nchw" ? "[N, C, H, W]" : "[N, H, W, C]"}`);
  const [a, b, c, d] = x.shape as [number, number, number, number];
  return layout === "nchw" ? [a, b, c, d] : [a, d, b, c];
}

/** The tensor shape of an image batch [N, C, H, W] in `layout`. */
export function imageShape(n: number, c: number, h: number, w: number, layout: Layout): number[] {
  return layout === "nchw" ? [n, c, h, w] : [n, h, w, c];
}

/** The window of one sliding operation: kernel extent, stride, padding and dilation per axis. */
export interface Window {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

/**
 * The output [H_out, W_out] of a window sliding over an input of spatial size [h, w]:
 * floor((h + 2p − d(k−1) − 1)/s) + 1 per axis, as PyTorch with ceil_mode off.
 * @example outputSize("max_pool2d", x.shape, [28, 28], window)   // k 2, s 2 -> [14, 14]
 */
export function outputSize(op: string, inputShape: readonly number[], spatial: readonly [number, number], win: Window): [number, number] {
  const out: number[] = [];
  for (let axis = 0; axis < 2; axis++) {
    const size = spatial[axis]!,
      k = win.kernel[axis]!,
      p = win.padding[axis]!,
      d = win.dilation[axis]!;
    const span = d * (k - 1) + 1;
    if (size + 2 * p < span) {
      throw new RangeError(
        `${op}: kernel ${formatShape(win.kernel)} (dilation ${formatShape(win.dilation)}) is larger than the padded ` +
          `input ${formatShape(inputShape)} (padding ${formatShape(win.padding)})`,
      );
    }
    out.push(Math.floor((size + 2 * p - span) / win.stride[axis]!) + 1);
  }
  return out as [number, number];
}
