import { apply1, type OpDef } from "../autograd/op.js";
import { kernels } from "../backends/index.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { dt, requireFloat } from "./util.js";

/** Embedding lookup: rows of a weight table gathered by integer indices. */

export const embeddingOp: OpDef<void> = {
  name: "embedding",
  forward: ([indices, weight]) => {
    const [rows, cols] = weight!.shape as [number, number];
    const out = Tensor.empty([...indices!.shape, cols], weight!.dtype);
    kernels.embedding(dt(weight!.dtype), weight!.data, rows, cols, indices!.data as Int32Array, out.data);
    return { out, save: [indices!] };
  },
  backward: ({ saved: [indices], inputShapes, inputDtypes, needsGrad }, [g]) => {
    if (!needsGrad[1]) return [null, null];
    const [rows, cols] = inputShapes[1] as [number, number];
    const gw = Tensor.empty([rows, cols], inputDtypes[1]!);
    kernels.embeddingBackward(dt(gw.dtype), gw.data, rows, cols, indices!.data as Int32Array, g!.data);
    return [null, gw];
  },
};

/**
 * Rows of `weight` [V, D] picked by int32 `indices` of any shape, giving [...indices, D]; the
 * argument order of PyTorch's F.embedding. Every index must lie in [0, V). The gradient of
 * weight adds up the output gradients of repeated indices.
 * @example embedding(tokens, wte)   // [B, T] int32, [V, D] -> [B, T, D]
 */
export function embedding(indices: Tensor, weight: Tensor): Tensor {
  if (indices.dtype !== "int32") {
    throw new TypeError(`embedding: indices must be int32, got ${indices.dtype} ${formatShape(indices.shape)}`);
  }
  requireFloat(weight, "embedding");
  if (weight.ndim !== 2) throw new RangeError(`embedding: weight ${formatShape(weight.shape)} must be 2-D [V, D]`);
  return apply1(embeddingOp, [indices, weight], undefined);
}
