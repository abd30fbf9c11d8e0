/**
 * A small seeded random stream for the search's decisions (sampling a trial's values, PBT's
 * perturbations and donor picks). Each decision gets its own stream from (seed, ...keys), so a
 * resumed search draws the same values as an uninterrupted one whatever order trials finish in.
 */

/** Uniform numbers in [0, 1) from a 32-bit state (mulberry32). */
export type Random = () => number;

/**
 * The stream for a seed and the keys of one decision (e.g. the trial's number).
 * @example const random = seededRandom(0, 7); random() // the same number on every run
 */
export function seededRandom(seed: number, ...keys: number[]): Random {
  let state = mix(seed >>> 0);
  for (const key of keys) state = mix((state ^ mix(key >>> 0)) >>> 0);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit hash step (murmur3's finaliser), so nearby seeds and keys give unrelated streams. */
function mix(x: number): number {
  let h = x;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
