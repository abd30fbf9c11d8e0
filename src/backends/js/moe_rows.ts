/**
 * A mixture of experts' row moves (native/moe_rows.cc): the scaled scatter-add of slot rows into
 * their tokens and the scaled gather that is its backward. Every index is checked before
 * anything is written.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { decode, DTYPE, encode, type Elements } from "./dtype.js";

/**
 * out[indices[s], :] += gates[s]·rows[s, :] into float32 out, each addition rounded to float32
 * as native's.
 *
 * @example
 * const out = new Float32Array(2);
 * rowsScatterAdd(0, out, 1, 2, Int32Array.of(0, 0), Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 0.5)); // [2.5, 4]
 */
export const rowsScatterAdd: Kernels["rowsScatterAdd"] = (dtype, out, tableRows, cols, indices, rows, gates) => {
  const args = new Args("rowsScatterAdd");
  const dt = args.rowLookup(dtype, tableRows, cols, indices, "table");
  args.sized("out", out, DTYPE.float32, tableRows * cols);
  args.sized("rows", rows, dt, indices.length * cols);
  if (gates !== null) args.sized("gates", gates, DTYPE.float32, indices.length);
  const x = decode(dt, rows as Elements);
  indices.forEach((row, s) => {
    const g = gates === null ? 1 : gates[s]!;
    for (let j = 0; j < cols; j++) out[row * cols + j] = Math.fround(out[row * cols + j]! + Math.fround(g * x[s * cols + j]!));
  });
};

/**
 * gradRows[s, :] = gates[s]·grad[indices[s], :]; with rows, gradGates[s] = rows[s, :]·grad[indices[s], :]
 * summed in float64.
 *
 * @example
 * const gradRows = new Float32Array(2), gradGates = new Float32Array(1);
 * rowsGatherScaled(0, Float32Array.of(1, 2), 1, 2, Int32Array.of(0), Float32Array.of(2), gradRows, Float32Array.of(3, 4), gradGates); // [2, 4], [11]
 */
export const rowsGatherScaled: Kernels["rowsGatherScaled"] = (dtype, grad, tableRows, cols, indices, gates, gradRows, rows, gradGates) => {
  const args = new Args("rowsGatherScaled");
  const dt = args.rowLookup(dtype, tableRows, cols, indices, "table");
  const count = indices.length;
  args.sized("grad", grad, dt, tableRows * cols);
  args.sized("gates", gates, DTYPE.float32, count);
  args.sized("gradRows", gradRows, dt, count * cols);
  if (rows !== null) {
    args.sized("rows", rows, dt, count * cols);
    args.sized("gradGates", gradGates, DTYPE.float32, count);
  }
  const g = decode(dt, grad as Elements),
    x = rows === null ? null : decode(dt, rows as Elements);
  const scaled = new Float64Array(count * cols);
  indices.forEach((row, s) => {
    let dot = 0;
    for (let j = 0; j < cols; j++) {
      const gj = g[row * cols + j]!;
      scaled[s * cols + j] = Math.fround(gates[s]! * gj);
      if (x !== null) dot += x[s * cols + j]! * gj;
    }
    if (x !== null) gradGates![s] = dot;
  });
  encode(dt, scaled, gradRows as Elements);
};
