import { Rng } from "./random.js";
import { loadDataset, workerSpecOf, type WorkerSpec } from "./worker_spec.js";

/**
 * A map-style dataset: a length and random access to samples by index, as PyTorch's
 * `Dataset`. `get` must be a pure function of the index (no hidden cursor), so samplers can
 * reorder, shard and resume freely and a later worker pool can fetch samples anywhere.
 *
 * @example
 * const ds: Dataset<number> = { length: 3, get: (i) => i * i };
 */
export interface Dataset<S> {
  readonly length: number;
  get(index: number): S;
  /**
   * The shape of one sample's main tensor (for images [C, H, W]); the default collate uses
   * it to shape batches as [B, ...sampleShape]. Absent: samples are flat vectors.
   */
  readonly sampleShape?: readonly number[];
  /**
   * Optional fast path for batches without transforms: writes the samples at `indices` into
   * x and y, laid out as `labelledLayout(sampleShape)` ({ image, label } rows), in one pass,
   * as filling the batch sample by sample would. Throws a RangeError naming a bad index.
   */
  gather?(indices: Int32Array, x: Float32Array | Int32Array, y: Float32Array | Int32Array): void;
}

/**
 * Throws unless `index` is an integer in [0, length).
 * @example checkIndex(i, this.length, "FashionMNIST(train)")
 */
export function checkIndex(index: number, length: number, where: string): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new RangeError(`${where}: index ${index} is out of range for a dataset of ${length} samples`);
  }
}

/**
 * A dataset over samples already in memory.
 *
 * @example
 * const ds = new ArrayDataset([{ image: new Float32Array(4), label: 1 }], [1, 2, 2]);
 * ds.get(0).label; // 1
 */
export class ArrayDataset<S> implements Dataset<S> {
  readonly length: number;

  constructor(
    private readonly samples: readonly S[],
    readonly sampleShape?: readonly number[],
  ) {
    this.length = samples.length;
  }

  get(index: number): S {
    checkIndex(index, this.length, "ArrayDataset");
    return this.samples[index]!;
  }
}

/**
 * The samples of another dataset at some of its indices, in the order given (a validation
 * split, a class subset). Sample i of the subset is sample indices[i] of the base.
 *
 * @example
 * const firstHundred = new Subset(train, Array.from({ length: 100 }, (_, i) => i));
 */
export class Subset<S> implements Dataset<S> {
  readonly length: number;
  readonly indices: Int32Array;

  constructor(
    readonly dataset: Dataset<S>,
    indices: ArrayLike<number>,
  ) {
    this.indices = Int32Array.from(indices);
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i]!;
      if (!Number.isInteger(index) || index < 0 || index >= dataset.length) {
        throw new RangeError(`Subset: indices[${i}] = ${index} is out of range for a dataset of ${dataset.length} samples`);
      }
    }
    this.length = this.indices.length;
  }

  get sampleShape(): readonly number[] | undefined {
    return this.dataset.sampleShape;
  }

  get(index: number): S {
    checkIndex(index, this.length, "Subset");
    return this.dataset.get(this.indices[index]!);
  }

  /**
   * How a DataLoader worker rebuilds the subset: its base dataset's spec and the indices.
   * @example new DataLoader(randomSplit(train, [50000, 10000])[0], { batchSize: 128, numWorkers: 2 })
   */
  workerSpec(): WorkerSpec {
    return { module: import.meta.url, export: "subsetInWorker", args: { base: workerSpecOf(this.dataset), indices: this.indices } };
  }
}

/**
 * Rebuilds a Subset in a worker thread (see `Subset.workerSpec`).
 * @example const subset = await subsetInWorker({ base: spec, indices });
 */
export async function subsetInWorker(args: { base: WorkerSpec; indices: Int32Array }): Promise<Subset<unknown>> {
  return new Subset(await loadDataset(args.base), args.indices);
}

/**
 * Splits a dataset into disjoint random subsets of the given sizes (which must add up to its
 * length), as PyTorch's `random_split`; the same seed gives the same split on every run.
 *
 * @example
 * const nVal = Math.floor(train.length / 10);
 * const [fit, val] = randomSplit(train, [train.length - nVal, nVal], 0);
 */
export function randomSplit<S>(dataset: Dataset<S>, lengths: readonly number[], seed = 0): Subset<S>[] {
  let total = 0;
  for (const n of lengths) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`randomSplit: lengths must be non-negative integers, got [${lengths.join(", ")}]`);
    total += n;
  }
  if (total !== dataset.length) {
    throw new RangeError(`randomSplit: lengths [${lengths.join(", ")}] add up to ${total}, but the dataset has ${dataset.length} samples`);
  }
  const order = Rng.seeded(seed).permutation(dataset.length);
  let start = 0;
  return lengths.map((n) => new Subset(dataset, order.subarray(start, (start += n))));
}
