import { apply1, type OpDef } from "../autograd/op.js";
import { fillWith } from "../tensor/create.js";
import { kernels } from "../backends/index.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { broadcastMeta, broadcastShapes } from "./broadcast.js";
import { sumTo } from "./reduce.js";
import { dt, requireSameDType } from "./util.js";

/** Element-wise selection between two tensors by a condition: where and maskedFill. */

function whereKernel(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, "where"), b.shape, "where");
  const out = Tensor.empty(shape, a.dtype);
  kernels.where(dt(cond.dtype), cond.data, dt(a.dtype), a.data, b.data, out.data, broadcastMeta(shape, [cond.shape, a.shape, b.shape]));
  return out;
}

function scalar(value: number, like: Tensor): Tensor {
  return fillWith(Tensor.empty([], like.dtype), value);
}

// The condition gets no gradient (null), as a boolean mask has none in PyTorch: the selection
// is piecewise constant in it.
export const whereOp: OpDef<void> = {
  name: "where",
  forward: ([cond, a, b]) => ({ out: whereKernel(cond!, a!, b!), save: [cond!] }),
  backward: ({ saved: [cond], inputShapes, needsGrad }, [g]) => {
    const zero = scalar(0, g!);
    return [
      null,
      needsGrad[1] ? sumTo(whereKernel(cond!, g!, zero), inputShapes[1]!) : null,
      needsGrad[2] ? sumTo(whereKernel(cond!, zero, g!), inputShapes[2]!) : null,
    ];
  },
};

/**
 * a where cond is nonzero, else b, with all three broadcast together (NumPy rules). cond may
 * have any dtype (for floats every value but ±0 is true, NaN included); a and b share a dtype,
 * and either may be a number. Gradients flow to a where cond holds and to b elsewhere.
 * @example where(gt(x, 0), x, mul(x, 0.01))   // leaky ReLU
 * @example where(mask, scores, -1e9)
 */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  if (typeof a === "number" && typeof b === "number") {
    throw new TypeError(`where: a and b are both numbers (${a}, ${b}); one must be a tensor to give the dtype`);
  }
  const ta = typeof a === "number" ? scalar(a, b as Tensor) : a;
  const tb = typeof b === "number" ? scalar(b, ta) : b;
  requireSameDType("where", ta, tb);
  const out = apply1(whereOp, [cond, ta, tb], undefined);
  if (ta !== a) ta.dispose();
  if (tb !== b) tb.dispose();
  return out;
}

/**
 * x with `value` wherever mask (broadcast to x's shape) is nonzero, like torch's masked_fill;
 * the gradient flows to x where the mask is 0.
 * @example maskedFill(scores, causalMask, -Infinity)
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  if (typeof value !== "number") throw new TypeError(`maskedFill: value must be a number, got ${typeof value}`);
  if (!sameShape(broadcastShapes(x.shape, mask.shape, "maskedFill"), x.shape)) {
    throw new RangeError(`maskedFill: mask ${formatShape(mask.shape)} does not broadcast to x ${formatShape(x.shape)}`);
  }
  return where(mask, value, x);
}
