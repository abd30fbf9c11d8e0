import { Rng } from "./random.js";
import type { Sampler } from "./sampler.js";

export interface UniformSamplerOptions {
  /** Indices per epoch. */
  samples: number;
  /** The seed (default 0); the same seed gives the same indices on every run. */
  seed?: number;
}

/**
 * `samples` indices per epoch drawn uniformly from [0, size) with replacement, as PyTorch's
 * `RandomSampler(replacement=True, num_samples=samples)` and nanoGPT's `torch.randint` batches.
 * Epoch e draws from `Rng.seeded(seed, e)`, so
 * like every sampler its epochs are pure functions of the epoch and a resumed loader repeats
 * them exactly. It suits datasets far larger than the samples an epoch needs, such as every
 * window start of a text, where a full permutation would be wasted work.
 *
 * @example
 * const sampler = new UniformSampler(4_000_000, { samples: 1024, seed: 1 });
 * sampler.epochIndices(0); // 1024 indices in [0, 4e6), possibly repeating
 */
export class UniformSampler implements Sampler {
  readonly size: number;
  readonly length: number;
  readonly seed: number;

  constructor(size: number, options: UniformSamplerOptions) {
    const samples = options?.samples;
    if (!Number.isSafeInteger(samples) || samples < 0 || samples > 2 ** 31 - 1) {
      throw new RangeError(`UniformSampler: samples must be an integer in [0, 2^31), got ${JSON.stringify(samples)}`);
    }
    if (!Number.isSafeInteger(size) || size < (samples > 0 ? 1 : 0) || size > 2 ** 31) {
      throw new RangeError(`UniformSampler: dataset size must be an integer in [${samples > 0 ? 1 : 0}, 2^31] to draw ${samples} samples, got ${size}`);
    }
    this.size = size;
    this.length = samples;
    this.seed = options.seed ?? 0;
    Rng.seeded(this.seed); // validates the seed now rather than at the first epoch
  }

  epochIndices(epoch: number): Int32Array {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`UniformSampler: epoch must be a non-negative integer, got ${epoch}`);
    const rng = Rng.seeded(this.seed, epoch);
    const out = new Int32Array(this.length);
    for (let i = 0; i < out.length; i++) out[i] = rng.below(this.size);
    return out;
  }
}
