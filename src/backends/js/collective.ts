/**
 * The arithmetic of the shared-memory collectives (native/collective.cc): every destination
 * receives scale · (srcs[0] op srcs[1] op ...), element-wise in source order, here in float64.
 * A destination may be one of the sources: all sources are read before any is written.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { COLLECTIVE_OPS } from "./codes.js";
import { decode, DTYPE, encode, type Elements } from "./dtype.js";

/** Checks a non-empty array of typed arrays of `dtype`, each of n elements (the first's count when n < 0). */
function arrayList(args: Args, name: string, list: unknown, dtype: number, n: number): { arrays: Elements[]; n: number } {
  args.require(Array.isArray(list), () => `argument '${name}' must be an array of typed arrays`);
  const arrays = list as Elements[];
  args.require(arrays.length >= 1, () => `${name} must hold at least one typed array`);
  const kind = dtype === DTYPE.float32 ? Float32Array : Uint16Array;
  let count = n;
  arrays.forEach((a, k) => {
    args.require(a instanceof kind, () => `${name}[${k}] must be a ${kind.name} for ${dtype === DTYPE.float32 ? "float32" : "a 16-bit float"}`);
    if (count < 0) count = a.length;
    args.require(a.length === count, () => `${name}[${k}] holds ${a.length} elements, expected ${count}`);
  });
  return { arrays, n: count };
}

/**
 * Every dsts[j] = scale · (srcs[0] op srcs[1] op ...), op = sum (0) or max (1).
 *
 * @example
 * const a = Float32Array.of(1, 2), b = Float32Array.of(3, 4);
 * collectiveReduce(0, 0, [a, b], [a, b], 0.5); // a and b: [2, 3]
 */
export const collectiveReduce: Kernels["collectiveReduce"] = (dtype, op, dsts, srcs, scale) => {
  const args = new Args("collectiveReduce");
  const dt = args.floatDtype("dtype", dtype);
  args.integer("op", op);
  const kind = COLLECTIVE_OPS[op] ?? args.fail(`op must be 0 (sum) or 1 (max), got ${op}`);
  const dstList = arrayList(args, "dsts", dsts, dt, -1);
  const srcList = arrayList(args, "srcs", srcs, dt, dstList.n);
  const factor = Math.fround(args.number("scale", scale));
  const [first, ...rest] = srcList.arrays.map((a) => decode(dt, a)) as [Float64Array, ...Float64Array[]];
  const acc = first;
  for (const values of rest) {
    for (let i = 0; i < acc.length; i++) acc[i] = kind === "sum" ? acc[i]! + values[i]! : acc[i]! < values[i]! ? values[i]! : acc[i]!;
  }
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! * factor;
  for (const dst of dstList.arrays) encode(dt, acc, dst);
};
