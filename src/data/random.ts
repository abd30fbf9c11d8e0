/**
 * The data layer's seeded random numbers: xoshiro128** (Blackman and Vigna, 2018) for the
 * stream, seeded through splitmix64 as its authors recommend. Both are specified by their
 * reference C code, so an order drawn here is the same on every run, machine and Node version;
 * Math.random cannot be seeded and would make shuffles, splits and resumed runs irreproducible.
 * xoshiro128** works in 32-bit integers (Math.imul, >>>), which JavaScript computes exactly;
 * BigInt is used only for the few splitmix64 steps at seeding.
 */

const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;
/** Keeps per-sample streams apart from the seeded ones (the bytes of "samp" in ASCII). */
const SAMPLE_SALT = 0x73616d70;

/** murmur3's 32-bit finaliser: a bijection on 32-bit words with full avalanche. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * One step of splitmix64 (Steele, Lea and Flood; Vigna's reference splitmix64.c): advances
 * `state` by the golden gamma and returns the new state and the mixed 64-bit output.
 *
 * @example
 * splitmix64(1234567n).value; // 6457827717110365317n, the reference's first output
 */
export function splitmix64(state: bigint): { state: bigint; value: bigint } {
  const next = (state + GOLDEN_GAMMA) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return { state: next, value: z ^ (z >> 31n) };
}

function checkSeedPart(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Rng: ${name} must be a non-negative safe integer, got ${value}`);
  }
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/**
 * A seeded xoshiro128** generator. `Rng.seeded(seed, stream)` gives an independent stream per
 * (seed, stream) pair: the data loader uses the epoch as the stream, so epoch e of seed s is
 * the same permutation whether it is reached by training from the start or by resuming.
 *
 * @example
 * const rng = Rng.seeded(42, 3);    // seed 42, epoch 3
 * rng.below(10);                    // an integer in [0, 10)
 * rng.permutation(5);               // Int32Array, e.g. [3, 0, 4, 1, 2]
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** A generator with the given 128-bit state as four 32-bit words (not all zero). */
  constructor(state: readonly [number, number, number, number]) {
    if (state.every((w) => w >>> 0 === 0)) throw new RangeError("Rng: the xoshiro128** state must not be all zero");
    [this.s0, this.s1, this.s2, this.s3] = state.map((w) => w | 0) as [number, number, number, number];
  }

  /**
   * The generator for (seed, stream). The seed is mixed by splitmix64 first, then the stream
   * number is added in steps of the golden gamma, and two further splitmix64 outputs fill the
   * state; nearby seeds and streams thus start far apart. (The mixer is a bijection, so two
   * consecutive outputs cannot both be zero and the state is never all zero.)
   *
   * @example Rng.seeded(0, 0).nextUint32()
   */
  static seeded(seed: number, stream = 0): Rng {
    checkSeedPart(seed, "seed");
    checkSeedPart(stream, "stream");
    let state = (splitmix64(BigInt(seed)).value + BigInt(stream) * GOLDEN_GAMMA) & MASK64;
    const words: number[] = [];
    for (let i = 0; i < 2; i++) {
      const step = splitmix64(state);
      state = step.state;
      words.push(Number(step.value & 0xffffffffn), Number(step.value >> 32n));
    }
    return new Rng(words as [number, number, number, number]);
  }

  /**
   * The generator of one sample's random transform: keyed by (seed, epoch, position), where
   * position is the sample's place in its epoch's order. A worker thread that draws it makes
   * the same crop, flip or erasure as the training thread would, whichever worker runs the
   * sample.
   *
   * @example Rng.forSample(0, 2, 1234).below(5) // the same on every run and in every worker
   */
  static forSample(seed: number, epoch: number, position: number): Rng {
    checkSeedPart(seed, "seed");
    checkSeedPart(epoch, "epoch");
    checkSeedPart(position, "position");
    // Called once per sample, so the key is hashed in 32-bit arithmetic (murmur3's finaliser,
    // chained over the key's words) rather than through BigInt splitmix64, which costs ~20×.
    let h = mix32(SAMPLE_SALT ^ (seed >>> 0));
    for (const word of [Math.floor(seed / 2 ** 32), epoch >>> 0, Math.floor(epoch / 2 ** 32), position >>> 0, Math.floor(position / 2 ** 32)])
      h = mix32(h ^ word);
    const words = [mix32(h ^ 0x9e3779b9), mix32(h ^ 0x3c6ef372), mix32(h ^ 0xdaa66d2b), mix32(h ^ 0x78dde6e4)] as [number, number, number, number];
    if (words.every((w) => w === 0)) words[0] = 1;
    return new Rng(words);
  }

  /**
   * A float uniform in [0, 1), with 32 random bits.
   * @example Rng.seeded(3).nextFloat() < 1 // true
   */
  nextFloat(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /**
   * The next 32-bit output, in [0, 2^32).
   * @example new Rng([1, 2, 3, 4]).nextUint32(); // 11520, the reference's first output
   */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9);
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  /**
   * An integer uniform in [0, n), for 1 <= n <= 2^32, without modulo bias: outputs at or above
   * the largest multiple of n below 2^32 are rejected and redrawn.
   * @example Rng.seeded(1).below(6) + 1 // a die roll
   */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`Rng.below: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const r = this.nextUint32();
      if (r < limit) return r % n;
    }
  }

  /**
   * A uniformly random permutation of 0..n-1 (Fisher-Yates, drawing from the end).
   * @example Rng.seeded(7, 0).permutation(4) // Int32Array of 0..3 in a seeded order
   */
  permutation(n: number): Int32Array {
    if (!Number.isSafeInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new RangeError(`Rng.permutation: n must be an integer in [0, 2^31), got ${n}`);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const tmp = out[i]!;
      out[i] = out[j]!;
      out[j] = tmp;
    }
    return out;
  }
}
