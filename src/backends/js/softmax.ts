/**
 * Softmax and log-softmax over the middle axis of x viewed as [outer, r, inner], forward and
 * backward (native/softmax.cc), in float64: rows are max-subtracted and summed in float64.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { decode, encode } from "./dtype.js";

/** Checks outer, r and inner and returns the element count. */
function extents(args: Args, outer: number, r: number, inner: number): number {
  return args.numel([args.integer("outer", outer), args.integer("r", r), args.integer("inner", inner)]);
}

/** Calls fn(start, step) for the first element and the stride of each of the outer·inner lines. */
function forEachLine(outer: number, r: number, inner: number, fn: (start: number, step: number) => void): void {
  for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) fn(o * r * inner + j, inner);
}

/**
 * y = softmax(x) (log = false) or log-softmax(x) (log = true) over r.
 *
 * @example
 * const y = new Float32Array(2);
 * softmax(0, Float32Array.of(0, Math.log(3)), y, 1, 2, 1, false); // [0.25, 0.75]
 */
export const softmax: Kernels["softmax"] = (dtype, x, y, outer, r, inner, log) => {
  const args = new Args("softmax");
  const dt = args.floatDtype("dtype", dtype);
  const n = extents(args, outer, r, inner);
  args.sized("x", x, dt, n);
  args.sized("y", y, dt, n);
  const isLog = args.boolean("log", log);
  const v = decode(dt, x);
  forEachLine(outer, r, inner, (start, step) => {
    let m = -Infinity;
    for (let i = 0; i < r; i++) m = Math.max(m, v[start + i * step]!);
    let sum = 0;
    for (let i = 0; i < r; i++) sum += Math.exp(v[start + i * step]! - m);
    const logSum = Math.log(sum);
    for (let i = 0; i < r; i++) {
      const shifted = v[start + i * step]! - m;
      v[start + i * step] = isLog ? shifted - logSum : Math.exp(shifted) / sum;
    }
  });
  encode(dt, v, y);
};

/**
 * dx from the upstream grad and the saved output y: for softmax y·(g − Σ g·y / Σ y), for
 * log-softmax g − e^y·Σ g. Σ y is 1 for an exact output; dividing by the saved output's own
 * sum, as native does, keeps the rule exact for an output that was rounded.
 *
 * @example
 * const dx = new Float32Array(2);
 * softmaxBackward(0, Float32Array.of(1, 0), Float32Array.of(0.25, 0.75), dx, 1, 2, 1, false); // [0.1875, -0.1875]
 */
export const softmaxBackward: Kernels["softmaxBackward"] = (dtype, grad, y, dx, outer, r, inner, log) => {
  const args = new Args("softmaxBackward");
  const dt = args.floatDtype("dtype", dtype);
  const n = extents(args, outer, r, inner);
  args.sized("grad", grad, dt, n);
  args.sized("y", y, dt, n);
  args.sized("dx", dx, dt, n);
  const isLog = args.boolean("log", log);
  const g = decode(dt, grad),
    s = decode(dt, y);
  forEachLine(outer, r, inner, (start, step) => {
    let gSum = 0,
      dot = 0,
      ySum = 0;
    for (let i = 0; i < r; i++) {
      const k = start + i * step;
      gSum += g[k]!;
      dot += g[k]! * s[k]!;
      ySum += s[k]!;
    }
    for (let i = 0; i < r; i++) {
      const k = start + i * step;
      g[k] = isLog ? g[k]! - Math.exp(s[k]!) * gSum : s[k]! * (g[k]! - dot / ySum);
    }
  });
  encode(dt, g, dx);
};
