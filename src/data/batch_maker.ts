import type { Dataset } from "./dataset.js";
import { fillRow, isLabelledLayout, type BatchLayout } from "./layout.js";
import { Rng } from "./random.js";
import { buildTransform, type BuiltTransform, type TransformSpec } from "./transforms/compose.js";

/** One batch to make: its epoch and number, where its first sample sits in the epoch, and the dataset indices. */
export interface BatchJob {
  epoch: number;
  batch: number;
  /** Position of the batch's first sample in its epoch's order (keys the samples' random streams). */
  first: number;
  indices: Int32Array;
}

/** A sample that could not be read, transformed or batched: names its dataset index. */
export class SampleError extends Error {
  override name = "SampleError";

  constructor(
    message: string,
    /** The dataset index of the sample. */
    readonly index: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Reads, transforms and batches samples the same way in the training thread and in every
 * worker, which is what makes the batches independent of the number of workers: a sample's
 * transform draws from `Rng.forSample(seed, epoch, position)`, a function of where the sample
 * is in the epoch, not of the thread.
 *
 * @example
 * const maker = new BatchMaker(train, [{ kind: "randomHorizontalFlip" }], 0);
 * maker.fill(labelledLayout(maker.sampleShape!), job, xArray, yArray);
 */
export class BatchMaker<S = unknown> {
  private readonly transform: BuiltTransform | null;
  private readonly scratch = new ScratchImages();
  /** The shape of a transformed sample (a crop may change it). */
  readonly sampleShape: readonly number[] | undefined;

  constructor(
    readonly dataset: Dataset<S>,
    transform: TransformSpec | readonly TransformSpec[] | undefined,
    readonly seed: number,
  ) {
    this.transform = transform === undefined || (Array.isArray(transform) && transform.length === 0) ? null : buildTransform(transform, dataset.sampleShape);
    this.sampleShape = this.transform ? this.transform.shape : dataset.sampleShape;
  }

  /**
   * Sample k of a job, transformed; errors name the dataset index. With `scratch`, the
   * transforms write into memory the next call reuses (for samples copied away at once).
   */
  sample(job: BatchJob, k: number, scratch?: ScratchImages): S {
    const index = job.indices[k]!;
    try {
      const sample = this.dataset.get(index);
      if (this.transform === null) return sample;
      const rng = Rng.forSample(this.seed, job.epoch, job.first + k);
      return this.transform.apply(sample as never, { rng, shape: this.dataset.sampleShape!, output: scratch?.output }) as S;
    } catch (err) {
      throw new SampleError(`DataLoader: dataset index ${index} (${where(job, k)}) failed: ${(err as Error)?.message ?? String(err)}`, index, { cause: err });
    }
  }

  /** The job's samples, transformed, for a collate function. */
  samples(job: BatchJob): S[] {
    return Array.from(job.indices, (_, k) => this.sample(job, k));
  }

  /** Writes the job's samples into x and y ([count, ...] arrays of the layout's dtypes). */
  fill(layout: BatchLayout, job: BatchJob, x: Float32Array | Int32Array, y: Float32Array | Int32Array): void {
    const { dataset } = this;
    if (this.transform === null && dataset.gather && dataset.sampleShape && isLabelledLayout(layout, dataset.sampleShape)) {
      try {
        dataset.gather(job.indices, x, y);
        return;
      } catch {
        // The sample-by-sample path below fails again, naming the sample and its dataset index.
      }
    }
    for (let k = 0; k < job.indices.length; k++) {
      const sample = this.sample(job, k, this.scratch);
      try {
        fillRow(layout, sample, k, x, y, `dataset index ${job.indices[k]} (${where(job, k)})`, "DataLoader");
      } catch (err) {
        throw new SampleError((err as Error).message, job.indices[k]!, { cause: err });
      }
    }
  }
}

/**
 * Two reusable image buffers per length: a transform writes into the one its input is not
 * (its input may be the other buffer, written by the step before it).
 */
class ScratchImages {
  private readonly buffers = new Map<number, [Float32Array, Float32Array]>();

  readonly output = (length: number, input: Float32Array): Float32Array => {
    let pair = this.buffers.get(length);
    if (pair === undefined) {
      pair = [new Float32Array(length), new Float32Array(length)];
      this.buffers.set(length, pair);
    }
    return pair[0] === input ? pair[1] : pair[0];
  };
}

const where = (job: BatchJob, k: number): string => `sample ${k} of batch ${job.batch}, epoch ${job.epoch}`;
