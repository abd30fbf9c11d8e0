/**
 * Reductions over the middle axis of x viewed as [outer, r, inner] (native/reduce.cc): sum and
 * mean accumulate in float64; max and min propagate NaN like PyTorch. The output is x's dtype
 * or float32.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { REDUCE_OPS } from "./codes.js";
import { decode, DTYPE, dtypeName, encode } from "./dtype.js";

type Kind = (typeof REDUCE_OPS)[number];

/** The reduction of the r values x[start + i·step], i < r. */
function reduceLine(kind: Kind, x: Float64Array, start: number, step: number, r: number): number {
  if (kind === "sum" || kind === "mean") {
    let acc = 0;
    for (let i = 0; i < r; i++) acc += x[start + i * step]!;
    // Native rounds the float64 total (times 1/r for a mean) to float32 once.
    return kind === "mean" ? acc * (1 / r) : acc;
  }
  let best = kind === "max" ? -Infinity : Infinity;
  for (let i = 0; i < r; i++) {
    const v = x[start + i * step]!;
    if (Number.isNaN(v)) return NaN;
    if (kind === "max" ? v > best : v < best) best = v;
  }
  return best;
}

/**
 * out[o, j] = op over i of x[o, i, j].
 *
 * @example
 * const out = new Float32Array(2);
 * reduce(reduceCodes().sum, 0, Float32Array.of(1, 2, 3, 4), out, 1, 2, 2, 0); // [4, 6]
 */
export const reduce: Kernels["reduce"] = (code, dtype, x, out, outer, r, inner, outDtype) => {
  const args = new Args("reduce");
  const kind = args.lookup(REDUCE_OPS, code, "reduction");
  const dt = args.floatDtype("dtype", dtype);
  args.integer("outer", outer);
  args.integer("r", r);
  args.integer("inner", inner);
  args.require(outer >= 0 && r >= 0 && inner >= 0, () => `negative extent: outer ${outer}, r ${r}, inner ${inner}`);
  args.require(r > 0 || kind === "sum", () => "max, min and mean of an empty axis are undefined");
  args.sized("x", x, dt, outer * r * inner);
  const outDt = args.floatDtype("outDtype", outDtype);
  args.require(outDt === dt || outDt === DTYPE.float32, () => `out must be in x's dtype or float32, got ${dtypeName(outDt)}`);
  args.sized("out", out, outDt, outer * inner);
  const values = decode(dt, x);
  const result = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) result[o * inner + j] = reduceLine(kind, values, o * r * inner + j, inner, r);
  }
  encode(outDt, result, out);
};
