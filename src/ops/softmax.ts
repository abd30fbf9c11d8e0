import { apply1, type OpDef } from "../autograd/op.js";
import { kernels } from "../backends/index.js";
import { normalizeAxis, sizeOf } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { dt, requireFloat } from "./util.js";
import type { OpName } from "./registry.js";

/** Softmax and log-softmax over one axis, on the native kernel; both save their output for backward. */

/** x's shape viewed as [outer, r, inner] around `axis`. */
function aroundAxis(shape: readonly number[], axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis] ?? 1, sizeOf(shape.slice(axis + 1))];
}

function softmaxDef(name: OpName, log: boolean): OpDef<number> {
  return {
    name,
    forward: ([x], axis) => {
      const y = Tensor.empty(x!.shape, x!.dtype);
      kernels.softmax(dt(x!.dtype), x!.data, y.data, ...aroundAxis(x!.shape, axis), log);
      return { out: y, save: [y] };
    },
    backward: ({ saved: [y], attrs: axis }, [g]) => {
      const dx = Tensor.empty(y!.shape, y!.dtype);
      kernels.softmaxBackward(dt(y!.dtype), g!.data, y!.data, dx.data, ...aroundAxis(y!.shape, axis), log);
      return [dx];
    },
  };
}

export const softmaxOp = softmaxDef("softmax", false);
export const logSoftmaxOp = softmaxDef("logSoftmax", true);

/**
 * e^x / Σ e^x along `axis` (the last by default), max-subtracted so large inputs do not
 * overflow; float32, bfloat16 and float16, computed in float32.
 * @example softmax(scores)          // rows of [N, C] sum to 1
 * @example softmax(scores, 1)       // over the channels of [N, C, H, W]
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  requireFloat(x, "softmax");
  return apply1(softmaxOp, [x], normalizeAxis(axis, x.ndim, "softmax"));
}

/**
 * log(softmax(x)) along `axis`, computed as x − max − log Σ e^(x − max) so it stays finite
 * where softmax underflows to 0.
 * @example logSoftmax(logits)       // log-probabilities of [N, C]
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  requireFloat(x, "logSoftmax");
  return apply1(logSoftmaxOp, [x], normalizeAxis(axis, x.ndim, "logSoftmax"));
}
