import { Tensor } from "../tensor/tensor.js";
import { BatchMaker, type BatchJob } from "./batch_maker.js";
import { collateLabelled, type LabelledBatch, type LabelledSample } from "./collate.js";
import type { Dataset } from "./dataset.js";
import { labelledLayout, type BatchLayout } from "./layout.js";
import { RandomSampler, SequentialSampler, type Sampler } from "./sampler.js";
import type { TransformSpec } from "./transforms/compose.js";
import { WorkerPool } from "./worker_pool.js";
import { workerSpecOf, type WorkerSpec } from "./worker_spec.js";

export interface DataLoaderOptions<S, B> {
  /** Samples per batch. */
  batchSize: number;
  /** Visit the samples in a seeded random order that changes every epoch (default false). */
  shuffle?: boolean;
  /**
   * The seed of the shuffle and of the random transforms (default 0); the same seed gives the
   * same batches on every run. With a sampler, it seeds the transforms only.
   */
  seed?: number;
  /** Skip the last batch when it would be smaller than batchSize (default false). */
  dropLast?: boolean;
  /**
   * Makes a batch from samples: a function (training thread only), or a BatchLayout, which
   * worker threads can follow. Default: the labelled layout over the (transformed) sample
   * shape, for samples { image: Float32Array, label: number }.
   */
  collate?: ((samples: S[]) => B) | BatchLayout;
  /** Chooses each epoch's indices instead of shuffle (a distributed shard, say). */
  sampler?: Sampler;
  /** Transforms applied to each sample, in order, with the sample's own seeded stream (see transforms/). */
  transform?: TransformSpec | readonly TransformSpec[];
  /** Worker threads making batches (default 0: the training thread makes them). */
  numWorkers?: number;
  /** Batches each worker works ahead (default 2). */
  prefetchFactor?: number;
  /** Milliseconds to wait for one batch from a worker before failing (default 0: no limit; dead workers are detected regardless). */
  timeout?: number;
  /** How many dead workers are replaced before the loader stops with an error (default 3). */
  maxWorkerRestarts?: number;
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
 * With `numWorkers` > 0, worker threads make the batches ahead of time (see WorkerPool) in
 * shared memory that the batch tensors wrap without copying; the batches are the same as
 * with 0 workers, value for value, because each sample's transform draws from a stream keyed
 * by (seed, epoch, position in the epoch). The workers live until `close()` and never keep the
 * process alive. The dataset must describe itself to the workers (`workerSpec()`, see
 * worker_spec.ts); FashionMNIST, TextDataset and Subset do.
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
  readonly numWorkers: number;
  readonly prefetchFactor: number;
  private readonly maker: BatchMaker<S>;
  private readonly collateFn: ((samples: S[]) => B) | null;
  private readonly layout: BatchLayout | null;
  private readonly spec: WorkerSpec | null;
  private readonly transform: TransformSpec | readonly TransformSpec[] | undefined;
  private readonly seed: number;
  private readonly timeout: number;
  private readonly maxWorkerRestarts: number;
  private pool: WorkerPool | null = null;
  private epoch = 0;
  private batchIndex = 0;
  /** Bumped by every new iteration and position change, so an older iterator cannot run on. */
  private generation = 0;

  constructor(dataset: Dataset<S>, options: DataLoaderOptions<S, B>) {
    this.dataset = dataset;
    this.batchSize = checkInteger(options.batchSize, "batchSize", 1);
    this.dropLast = options.dropLast ?? false;
    if (options.sampler !== undefined && options.shuffle !== undefined) {
      throw new Error("DataLoader: give either a sampler or shuffle, not both (the sampler decides the order; seed then seeds the transforms)");
    }
    this.seed = options.seed ?? 0;
    this.sampler = options.sampler ?? (options.shuffle ? new RandomSampler(dataset.length, { seed: this.seed }) : new SequentialSampler(dataset.length));
    this.numWorkers = checkInteger(options.numWorkers ?? 0, "numWorkers", 0, 64);
    this.prefetchFactor = checkInteger(options.prefetchFactor ?? 2, "prefetchFactor", 1, 64);
    this.timeout = checkInteger(options.timeout ?? 0, "timeout", 0);
    this.maxWorkerRestarts = checkInteger(options.maxWorkerRestarts ?? 3, "maxWorkerRestarts", 0);
    this.transform = options.transform;
    this.maker = new BatchMaker(dataset, options.transform, this.seed);
    const shape = this.maker.sampleShape;
    const collate = options.collate;
    this.collateFn =
      typeof collate === "function"
        ? collate
        : collate === undefined && shape === undefined
          ? (samples) => collateLabelled(samples as unknown as LabelledSample[]) as unknown as B
          : null;
    this.layout = this.collateFn === null ? ((collate as BatchLayout | undefined) ?? labelledLayout(shape!)) : null;
    if (this.numWorkers > 0 && this.layout === null) {
      throw new TypeError(
        "DataLoader: numWorkers > 0 needs a BatchLayout as collate (a function cannot be sent to worker threads)" +
          (shape === undefined ? "; the dataset has no sampleShape for the default layout" : ""),
      );
    }
    this.spec = this.numWorkers > 0 ? workerSpecOf(dataset) : null;
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

  /** The worker threads, once an iteration has started them (null with numWorkers 0). */
  get workers(): WorkerPool | null {
    return this.pool;
  }

  /**
   * Stops the worker threads (a later iteration starts new ones). Batches already handed out stay valid.
   * @example loader.close();
   */
  close(): void {
    this.pool?.close();
    this.pool = null;
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
    const jobOf = (batch: number): BatchJob => {
      const first = batch * this.batchSize;
      return { epoch, batch, first, indices: order.slice(first, Math.min(first + this.batchSize, order.length)) };
    };
    const pool = this.numWorkers > 0 ? this.startPool() : null;
    const ahead = pool?.size ?? 0;
    for (let b = this.batchIndex; b < Math.min(batches, this.batchIndex + ahead); b++) pool!.request(b % ahead, jobOf(b));
    while (this.batchIndex < batches) {
      const b = this.batchIndex;
      const batch = pool ? (pool.take(b % ahead, jobOf(b)) as B) : this.makeBatch(jobOf(b));
      this.batchIndex++;
      if (pool && b + ahead < batches) pool.request(b % ahead, jobOf(b + ahead));
      yield batch;
      if (generation !== this.generation) {
        throw new Error("DataLoader: this iteration was superseded (a newer iteration, setEpoch or loadState moved the loader); start a new loop");
      }
    }
    this.epoch = epoch + 1;
    this.batchIndex = 0;
  }

  private startPool(): WorkerPool {
    if (this.pool?.isClosed) this.pool = null;
    this.pool ??= new WorkerPool({
      numWorkers: this.numWorkers,
      prefetchFactor: this.prefetchFactor,
      batchSize: this.batchSize,
      spec: this.spec!,
      transform: this.transform,
      seed: this.seed,
      layout: this.layout!,
      timeout: this.timeout,
      maxRestarts: this.maxWorkerRestarts,
    });
    return this.pool;
  }

  /** One batch made in this thread, exactly as a worker would make it. */
  private makeBatch(job: BatchJob): B {
    if (this.collateFn !== null) return this.collateFn(this.maker.samples(job));
    const { x: fx, y: fy } = this.layout!;
    const x = Tensor.empty([job.indices.length, ...fx.shape], fx.dtype);
    const y = Tensor.empty([job.indices.length, ...fy.shape], fy.dtype);
    try {
      this.maker.fill(this.layout!, job, x.data as Float32Array, y.data as Int32Array);
    } catch (err) {
      x.dispose();
      y.dispose();
      throw err;
    }
    return { x, y } as B;
  }
}
