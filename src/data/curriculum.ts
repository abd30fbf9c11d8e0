import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import { pacing, type PacingOptions } from "./pacing.js";
import { Rng } from "./random.js";
import type { Sampler } from "./sampler.js";
import { DataFileError } from "./data_file_error.js";

export interface CurriculumSamplerOptions {
  /** Each sample's difficulty: lower is easier. Ties keep index order. */
  scores: ArrayLike<number>;
  /** How the pool of admitted samples grows (pacing.ts), over epochs, or over steps when batchSize is given. */
  pacing: PacingOptions;
  /** The loader's batch size: the pacing then advances once per batch (optimizer step) instead of once per epoch. */
  batchSize?: number;
  /** The seed of the shuffles within the pool (default 0). */
  seed?: number;
}

/**
 * Curriculum learning by a difficulty score and a pacing function (Bengio et al., ICML 2009;
 * Hacohen and Weinshall, ICML 2019): samples are ranked from easiest to hardest, and at time
 * t only the ⌈g(t)·N⌉ easiest are admitted (at least one batch), g being the pacing function
 * (linear, root or step; see pacing.ts). The admitted pool is visited in a seeded random
 * order without replacement, starting over in a fresh order when it is used up, and
 * reshuffled when it grows, so newly admitted samples mix in at once. Once g reaches 1 an
 * epoch is a plain random permutation of the dataset.
 *
 * Time is the epoch, or with `batchSize` the global batch index epoch·⌈N/B⌉ + ⌊k/B⌋ of the
 * k-th index (the loader's step when it keeps its last short batch). Every epoch yields N
 * indices, and each is a pure function of (scores, pacing, seed, epoch), so a resumed loader
 * repeats it exactly.
 *
 * @example
 * const scores = losses;  // e.g. each sample's loss under a small reference model
 * const sampler = new CurriculumSampler({ scores, pacing: { kind: "root", start: 0.1, steps: 500 }, batchSize: 128, seed: 1 });
 * const loader = new DataLoader(train, { batchSize: 128, sampler });
 */
export class CurriculumSampler implements Sampler {
  readonly length: number;
  readonly seed: number;
  readonly batchSize: number | undefined;
  /** Dataset indices from easiest to hardest. */
  readonly order: Int32Array;
  private readonly g: (t: number) => number;

  constructor(options: CurriculumSamplerOptions) {
    const scores = options?.scores;
    if (scores === undefined || typeof scores.length !== "number") throw new TypeError("CurriculumSampler: scores must be an array of numbers, one per sample");
    const n = scores.length;
    if (n > 2 ** 31 - 1) throw new RangeError(`CurriculumSampler: ${n} samples exceed 2^31 - 1`);
    for (let i = 0; i < n; i++) {
      if (typeof scores[i] !== "number" || Number.isNaN(scores[i])) throw new RangeError(`CurriculumSampler: scores[${i}] = ${scores[i]} is not a number`);
    }
    const batchSize = options.batchSize;
    if (batchSize !== undefined && (!Number.isSafeInteger(batchSize) || batchSize < 1)) {
      throw new RangeError(`CurriculumSampler: batchSize must be a positive integer, got ${batchSize}`);
    }
    this.g = pacing(options.pacing);
    this.length = n;
    this.batchSize = batchSize;
    this.seed = options.seed ?? 0;
    Rng.seeded(this.seed); // validates the seed now rather than at the first epoch
    this.order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || a - b);
  }

  /**
   * How many of the easiest samples are admitted at time t (an epoch, or a global batch index).
   * @example sampler.poolSize(0) // ⌈start·N⌉
   */
  poolSize(t: number): number {
    const atLeast = Math.min(this.length, this.batchSize ?? 1);
    return Math.min(this.length, Math.max(atLeast, Math.ceil(this.g(t) * this.length - 1e-9)));
  }

  epochIndices(epoch: number): Int32Array {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`CurriculumSampler: epoch must be a non-negative integer, got ${epoch}`);
    const rng = Rng.seeded(this.seed, epoch);
    const n = this.length;
    const out = new Int32Array(n);
    const chunk = this.batchSize ?? Math.max(n, 1);
    const batchesPerEpoch = Math.ceil(n / chunk);
    let pool: Int32Array = new Int32Array(0);
    let cursor = 0;
    for (let k = 0; k < n; k += chunk) {
      const size = this.poolSize(this.batchSize === undefined ? epoch : epoch * batchesPerEpoch + k / chunk);
      if (size !== pool.length) [pool, cursor] = [rng.permutation(size), 0];
      for (let j = k; j < Math.min(n, k + chunk); j++) {
        if (cursor === pool.length) [pool, cursor] = [rng.permutation(size), 0];
        out[j] = this.order[pool[cursor++]!]!;
      }
    }
    return out;
  }
}

/**
 * Reads difficulty scores from a JSON file holding an array of `count` numbers, one per
 * sample in dataset order (lower is easier): e.g. each sample's loss under a reference model,
 * Hacohen and Weinshall's "transfer scoring". Every error names the file.
 *
 * @example const scores = readScores("fashion-train-scores.json", 60000);
 */
export function readScores(path: string, count: number): Float64Array {
  const full = resolve(path);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(full, "utf8"));
  } catch (err) {
    throw new DataFileError(`${full}: cannot read the curriculum scores (${(err as Error).message})`, { cause: err });
  }
  if (!Array.isArray(value))
    throw new DataFileError(`${full}: curriculum scores must be a JSON array of numbers, got ${value === null ? "null" : typeof value}`);
  if (value.length !== count) throw new DataFileError(`${full}: holds ${value.length} curriculum scores, but the dataset has ${count} samples`);
  const bad = value.findIndex((v) => typeof v !== "number" || !Number.isFinite(v));
  if (bad >= 0) throw new DataFileError(`${full}: curriculum score ${bad} is ${JSON.stringify(value[bad])}, not a finite number`);
  return Float64Array.from(value as number[]);
}
