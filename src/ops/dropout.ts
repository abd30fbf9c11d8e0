import { apply1, type OpDef } from "../autograd/op.js";
import { kernels } from "../backends/index.js";
import { defaultGenerator, type Generator } from "../tensor/random.js";
import { Tensor } from "../tensor/tensor.js";
import { dt, requireFloat } from "./util.js";

/**
 * Dropout saves no mask: its attrs hold the counter range it drew from, and backward
 * regenerates the identical mask from them. That saves a tensor per layer, and a recomputation
 * (activation checkpointing) that restores the generator's state replays the same mask.
 */

interface DropoutAttrs {
  p: number;
  seed: number;
  offset: number;
}

function dropoutKernel(x: Tensor, { p, seed, offset }: DropoutAttrs): Tensor {
  const out = Tensor.empty(x.shape, x.dtype);
  kernels.dropout(dt(x.dtype), x.data, out.data, seed, offset, p);
  return out;
}

export const dropoutOp: OpDef<DropoutAttrs> = {
  name: "dropout",
  forward: ([x], attrs) => ({ out: dropoutKernel(x!, attrs) }),
  // The map is linear in x with the same mask and scale, so the gradient is the same map of g.
  backward: ({ attrs }, [g]) => [dropoutKernel(g!, attrs)],
};

/** Evaluation mode and p = 0: the input's storage under a new handle, gradient passed through. */
export const passThroughOp: OpDef<null> = {
  name: "dropout",
  forward: ([x]) => ({ out: x!.share() }),
  backward: (_, [g]) => [g!],
};

/**
 * Zeroes each element with probability p and scales the kept ones by 1/(1 − p) while
 * training; returns x's values unchanged (sharing its storage) when p = 0 or not training.
 * p = 1 gives zeros, as in PyTorch. Draws from `generator` (default: this thread's).
 *
 * @example
 * const h = dropout(relu(linear(x, w, b)), 0.1, model.training);
 */
export function dropout(x: Tensor, p = 0.5, training = true, generator?: Generator): Tensor {
  requireFloat(x, "dropout");
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) throw new RangeError(`dropout: p must be a probability in [0, 1], got ${p}`);
  if (typeof training !== "boolean") throw new TypeError(`dropout: training must be a boolean, got ${String(training)}`);
  if (p === 0 || !training) return apply1(passThroughOp, [x], null);
  const { seed, offset } = (generator ?? defaultGenerator()).reserve(x.size);
  return apply1(dropoutOp, [x], { p, seed, offset });
}
