/**
 * The (seed, offset) arguments of the random kernels, checked as native/random.cc checks them,
 * and the stream's words for n elements: whole Philox blocks, so element i's Box–Muller
 * partner i ^ 1 is there even when n is odd.
 */
import type { Args } from "./args.js";
import { streamWordArray } from "./philox.js";

/**
 * The words of ⌈n/4⌉ blocks of the stream (seed, offset).
 *
 * @example
 * streamFor(new Args("randomInt"), 7, 0, 3).length; // 4: one whole block
 */
export function streamFor(args: Args, seed: number, offset: number, n: number): Uint32Array {
  const s = args.integer("seed", seed);
  args.require(s >= 0, () => `seed must be a non-negative safe integer, got ${s}`);
  const o = args.integer("offset", offset);
  args.require(o >= 0, () => `offset must be a non-negative safe integer, got ${o}`);
  const blocks = Math.ceil(n / 4);
  args.require(o + blocks <= 2 ** 53, () => `offset ${o} leaves too few counters for ${n} draws`);
  return streamWordArray(s, o, 4 * blocks);
}
