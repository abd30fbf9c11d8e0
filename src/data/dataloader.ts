import { collateLabelled, type LabelledBatch, type LabelledSample } from "./collate.js";
import type { Dataset } from "./dataset.js";
import { RandomSampler, SequentialSampler, type Sampler } from "./sampler.js";

export interface DataLoaderOptions<S, B> {
  /** Samples per batch. */
  batchSize: number;
  /** Visit the samples in a seeded random order that changes every epoch (default false). */
  shuffle?: boolean;
  /** The shuffle's seed (default 0); the same seed gives the same order on every run. */
  seed?: number;
  /** Skip the last batch when it would be smaller than batchSize (default false). */
  dropLast?: boolean;
  /**
   * Makes a batch from samples. Default: `collateLabelled` over the dataset's sampleShape,
   * for samples { image: Float32Array, label: number }.
   */
  collate?: (samples: S[]) => B;
  /** Chooses each epoch's indices instead of shuffle/seed (a distributed shard, say). */
  sampler?: Sampler;
}

/**
 * Where a loader is: the epoch, and how many of its batches have been handed out. A plain JSON
 * value, saved in a checkpoint and given back to `loadState` to resume mid-epoch.
 */
export interface LoaderState {
  epoch: number;
  batchIndex: number;
}

function checkInteger(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`DataLoader: ${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Batches of a dataset, in the order of a sampler, as an iterable. Iterating runs from the
 * loader's position to the end of its epoch; running to the end moves the loader to the next
 * epoch (so a new `for` loop reshuffles without `setEpoch`, unlike PyTorch, where forgetting
 * `set_epoch` repeats the order), while `break` leaves it where the loop stopped. Each batch
 * belongs to the consumer, which disposes it (the Trainer does so after each step).
 *
 * Resuming is exact: an epoch's order is a pure function of (seed, epoch), so a loader given
 * a saved `state()` yields the very batches an uninterrupted run would have yielded next.
 *
 * @example
 * const loader = new DataLoader(FashionMNIST.load({ split: "train" }), { batchSize: 256, shuffle: true, seed: 1 });
 * for (const { x, y } of loader) {   // x [256, 1, 28, 28] float32, y [256] int32
 *   const loss = step(x, y);
 *   x.dispose(); y.dispose();
 * }
 * const saved = loader.state();      // { epoch: 1, batchIndex: 0 }
 */
export class DataLoader<S = LabelledSample, B = LabelledBatch> implements Iterable<B> {
  readonly dataset: Dataset<S>;
  readonly batchSize: number;
  readonly dropLast: boolean;
  readonly sampler: Sampler;
  private readonly collate: (samples: S[]) => B;
  private epoch = 0;
  private batchIndex = 0;
  /** Bumped by every new iteration and position change, so an older iterator cannot run on. */
  private generation = 0;

  constructor(dataset: Dataset<S>, options: DataLoaderOptions<S, B>) {
    this.dataset = dataset;
    this.batchSize = checkInteger(options.batchSize, "batchSize", 1);
    this.dropLast = options.dropLast ?? false;
    if (options.sampler !== undefined && (options.shuffle !== undefined || options.seed !== undefined)) {
      throw new Error("DataLoader: give either a sampler or shuffle/seed, not both (the sampler decides the order)");
    }
    this.sampler = options.sampler ?? (options.shuffle ? new RandomSampler(dataset.length, { seed: options.seed ?? 0 }) : new SequentialSampler(dataset.length));
    this.collate = options.collate ?? ((samples) => collateLabelled(samples as unknown as LabelledSample[], dataset.sampleShape) as unknown as B);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.sampler.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /**
   * Moves to the start of epoch `epoch` (as PyTorch's DistributedSampler.set_epoch).
   * @example loader.setEpoch(3); for (const batch of loader) { ... }
   */
  setEpoch(epoch: number): void {
    this.loadState({ epoch, batchIndex: 0 });
  }

  /**
   * The position, as a JSON value for a checkpoint: batchIndex counts the batches of this
   * epoch already handed out, including the one the consumer is working on.
   * @example const saved = JSON.stringify(loader.state());
   */
  state(): LoaderState {
    return { epoch: this.epoch, batchIndex: this.batchIndex };
  }

  /**
   * Resumes from a position saved by `state()`; the next iteration continues from there.
   * @example loader.loadState(JSON.parse(saved));
   */
  loadState(state: LoaderState): void {
    const epoch = checkInteger(state?.epoch, "state.epoch", 0);
    const batchIndex = checkInteger(state?.batchIndex, "state.batchIndex", 0, this.length);
    this.epoch = epoch;
    this.batchIndex = batchIndex;
    this.generation++;
  }

  /**
   * The remaining batches of the current epoch; running to the end moves to the next epoch.
   * @example for (const { x, y } of loader) { ...; x.dispose(); y.dispose(); }
   */
  *[Symbol.iterator](): Iterator<B> {
    const generation = ++this.generation;
    const epoch = this.epoch;
    const order = this.sampler.epochIndices(epoch);
    if (order.length !== this.sampler.length) {
      throw new Error(`DataLoader: the sampler gave ${order.length} indices for epoch ${epoch}, but its length is ${this.sampler.length}`);
    }
    const batches = this.length;
    while (this.batchIndex < batches) {
      const start = this.batchIndex * this.batchSize;
      const indices = order.subarray(start, Math.min(start + this.batchSize, order.length));
      const samples = Array.from(indices, (i) => this.dataset.get(i));
      const batch = this.collate(samples);
      this.batchIndex++;
      yield batch;
      if (generation !== this.generation) {
        throw new Error("DataLoader: this iteration was superseded (a newer iteration, setEpoch or loadState moved the loader); start a new loop");
      }
    }
    this.epoch = epoch + 1;
    this.batchIndex = 0;
  }
}
