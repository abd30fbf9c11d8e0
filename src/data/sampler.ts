import { Rng } from "./random.js";

/**
 * Decides which dataset indices an epoch visits and in what order. `epochIndices(e)` is a pure
 * function of the epoch: the loader can recompute any epoch's order after a restart and skip
 * to the batch it stopped at, and a distributed sampler can give each rank its own shard of
 * the same global order.
 *
 * @example
 * class EvensSampler implements Sampler {
 *   constructor(readonly length: number) {}
 *   epochIndices(): Int32Array { return Int32Array.from({ length: this.length }, (_, i) => 2 * i); }
 * }
 */
export interface Sampler {
  /** How many indices each epoch yields. */
  readonly length: number;
  /** The dataset indices of epoch `epoch`, in the order they are visited (`length` of them). */
  epochIndices(epoch: number): Int32Array;
}

function checkSize(size: number, where: string): number {
  if (!Number.isSafeInteger(size) || size < 0 || size > 2 ** 31 - 1) {
    throw new RangeError(`${where}: dataset size must be an integer in [0, 2^31), got ${size}`);
  }
  return size;
}

function checkEpoch(epoch: number, where: string): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`${where}: epoch must be a non-negative integer, got ${epoch}`);
}

/**
 * 0, 1, ..., size-1 in every epoch (evaluation, or data that is already shuffled).
 * @example new SequentialSampler(5).epochIndices(0) // [0, 1, 2, 3, 4]
 */
export class SequentialSampler implements Sampler {
  readonly length: number;

  constructor(size: number) {
    this.length = checkSize(size, "SequentialSampler");
  }

  epochIndices(epoch: number): Int32Array {
    checkEpoch(epoch, "SequentialSampler");
    return Int32Array.from({ length: this.length }, (_, i) => i);
  }
}

/**
 * A fresh uniformly random permutation of 0..size-1 per epoch, drawn from `Rng.seeded(seed,
 * epoch)`: the same seed gives the same order for an epoch on every run, and epochs differ.
 * @example new RandomSampler(60000, { seed: 1 }).epochIndices(3)
 */
export class RandomSampler implements Sampler {
  readonly length: number;
  readonly seed: number;

  constructor(size: number, options: { seed?: number } = {}) {
    this.length = checkSize(size, "RandomSampler");
    this.seed = options.seed ?? 0;
    Rng.seeded(this.seed); // validates the seed now rather than at the first epoch
  }

  epochIndices(epoch: number): Int32Array {
    checkEpoch(epoch, "RandomSampler");
    return Rng.seeded(this.seed, epoch).permutation(this.length);
  }
}

/**
 * `count` indices spread evenly over [0, length): index k is ⌊k·(length − 1)/(count − 1)⌋, the
 * same in every epoch. The GPT recipe's fixed validation windows, placed as its PyTorch twin
 * places them.
 * @example new EvenlySpacedSampler(440314, 640).epochIndices(0) // 0, 689, ..., 440313
 */
export class EvenlySpacedSampler implements Sampler {
  constructor(
    readonly datasetSize: number,
    readonly length: number,
  ) {
    checkSize(datasetSize, "EvenlySpacedSampler");
    if (!Number.isSafeInteger(length) || length < 1 || length > datasetSize) {
      throw new RangeError(`EvenlySpacedSampler: count must be an integer in [1, ${datasetSize}], got ${length}`);
    }
  }

  epochIndices(): Int32Array {
    if (this.length === 1) return Int32Array.of(0);
    return Int32Array.from({ length: this.length }, (_, k) => Math.floor((k * (this.datasetSize - 1)) / (this.length - 1)));
  }
}
