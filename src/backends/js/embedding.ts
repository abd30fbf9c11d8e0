/**
 * Embedding lookup and its backward scatter-add (native/embedding.cc): rows of a weight
 * [rows, cols] gathered by int32 indices. Every index is checked before anything is written.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { decode, encode, words } from "./dtype.js";

/**
 * out[i, :] = weight[indices[i], :], copying bits.
 *
 * @example
 * const out = new Float32Array(2);
 * embedding(0, Float32Array.of(1, 2, 3, 4), 2, 2, Int32Array.of(1), out); // [3, 4]
 */
export const embedding: Kernels["embedding"] = (dtype, weight, rows, cols, indices, out) => {
  const args = new Args("embedding");
  const dt = args.rowLookup(dtype, rows, cols, indices, "weight");
  args.sized("weight", weight, dt, rows * cols);
  args.sized("out", out, dt, indices.length * cols);
  const from = words(weight),
    to = words(out);
  indices.forEach((row, i) => to.set(from.subarray(row * cols, (row + 1) * cols), i * cols));
};

/**
 * gradWeight = 0, then gradWeight[indices[i], :] += grad[i, :] in index order, summed in
 * float64 (native sums 16-bit gradients in float32 and rounds once; f32 ones in place).
 *
 * @example
 * const gw = new Float32Array(4);
 * embeddingBackward(0, gw, 2, 2, Int32Array.of(1, 1), Float32Array.of(1, 2, 3, 4)); // [0, 0, 4, 6]
 */
export const embeddingBackward: Kernels["embeddingBackward"] = (dtype, gradWeight, rows, cols, indices, grad) => {
  const args = new Args("embeddingBackward");
  const dt = args.rowLookup(dtype, rows, cols, indices, "weight");
  args.sized("gradWeight", gradWeight, dt, rows * cols);
  args.sized("grad", grad, dt, indices.length * cols);
  const g = decode(dt, grad);
  const sum = new Float64Array(rows * cols);
  indices.forEach((row, i) => {
    for (let j = 0; j < cols; j++) sum[row * cols + j]! += g[i * cols + j]!;
  });
  encode(dt, sum, gradWeight);
};
