/**
 * Dropout (native/random.cc): out = x·mask/(1 − p), element i dropped when its stream word is
 * below p·2^32. Forward and backward are the same map, the mask regenerated from (seed,
 * offset). Dropped elements are multiplied by 0, so NaN and inf propagate as in PyTorch.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { decode, encode } from "./dtype.js";
import { streamFor } from "./stream.js";

/**
 * out = x·mask/(1 − p); bit-identical to native (one float32 product per element).
 *
 * @example
 * const out = new Float32Array(4);
 * dropout(0, Float32Array.of(1, 1, 1, 1), out, 3, 0, 0.5); // each element 0 or 2
 */
export const dropout: Kernels["dropout"] = (dtype, x, out, seed, offset, p) => {
  const args = new Args("dropout");
  const dt = args.floatDtype("dtype", dtype);
  const n = args.elements("x", x, dt);
  args.sized("out", out, dt, n);
  const words = streamFor(args, seed, offset, n);
  const prob = args.number("p", p);
  args.require(prob >= 0 && prob <= 1, () => `p must be a probability in [0, 1], got ${prob}`);
  const threshold = Math.ceil(prob * 2 ** 32);
  const scale = prob < 1 ? Math.fround(1 / (1 - prob)) : 0;
  const values = decode(dt, x);
  for (let i = 0; i < n; i++) values[i] = values[i]! * (words[i]! >= threshold ? scale : 0);
  encode(dt, values, out);
};
