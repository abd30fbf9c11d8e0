import { RandomSampler, type Sampler, SequentialSampler } from "./sampler.js";

export interface DistributedSamplerOptions {
  /** This rank, 0 ≤ rank < worldSize. */
  rank: number;
  worldSize: number;
  /** With a dataset size: shuffle every epoch from the seed (default true), as PyTorch's. */
  shuffle?: boolean;
  /** The seed shared by all ranks (default 0). */
  seed?: number;
  /**
   * Drop the tail of each epoch's order so it divides evenly (default false: pad by repeating
   * indices from its start), as PyTorch's drop_last.
   */
  dropLast?: boolean;
}

/**
 * Each rank's shard of a global order, as PyTorch's DistributedSampler: every rank computes the
 * same global order of the epoch (a permutation from the shared seed and the epoch, or any
 * sampler's order), pads it by repeating its first indices to a multiple of worldSize (or drops
 * the tail with dropLast), and takes every worldSize-th index from its rank on. Shards are
 * disjoint (apart from the padding) and of equal length, so every rank runs the same number of
 * steps, and the ranks' batch b together are the global order's b-th batch of
 * batchSize × worldSize.
 *
 * @example
 * const sampler = new DistributedSampler(60000, { rank: group.rank, worldSize: group.size, seed: 1 });
 * const loader = new DataLoader(dataset, { batchSize: 128, sampler });   // 128 per rank
 */
export class DistributedSampler implements Sampler {
  readonly length: number;
  readonly base: Sampler;
  readonly rank: number;
  readonly worldSize: number;
  readonly dropLast: boolean;

  /** source: a dataset size, or the sampler whose order is sharded (its seed is the shared seed). */
  constructor(source: number | Sampler, options: DistributedSamplerOptions) {
    const { rank, worldSize } = options;
    if (!Number.isSafeInteger(worldSize) || worldSize < 1) throw new RangeError(`DistributedSampler: worldSize must be a positive integer, got ${worldSize}`);
    if (!Number.isSafeInteger(rank) || rank < 0 || rank >= worldSize)
      throw new RangeError(`DistributedSampler: rank must be an integer in [0, ${worldSize}), got ${rank}`);
    if (typeof source !== "number" && (options.shuffle !== undefined || options.seed !== undefined)) {
      throw new Error("DistributedSampler: shuffle and seed apply to a dataset size; a given sampler decides its own order");
    }
    this.base =
      typeof source !== "number" ? source : (options.shuffle ?? true) ? new RandomSampler(source, { seed: options.seed ?? 0 }) : new SequentialSampler(source);
    this.rank = rank;
    this.worldSize = worldSize;
    this.dropLast = options.dropLast ?? false;
    const n = this.base.length;
    this.length = this.dropLast ? Math.floor(n / worldSize) : Math.ceil(n / worldSize);
  }

  epochIndices(epoch: number): Int32Array {
    const order = this.base.epochIndices(epoch);
    const out = new Int32Array(this.length);
    if (order.length === 0) return out;
    for (let k = 0; k < this.length; k++) out[k] = order[(this.rank + k * this.worldSize) % order.length]!;
    return out;
  }
}
