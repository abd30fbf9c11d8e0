import assert from "node:assert/strict";
import { test } from "node:test";

import { SampleError } from "../../src/data/batch_maker.js";
import type { LabelledBatch } from "../../src/data/collate.js";
import { DataLoader, type DataLoaderOptions } from "../../src/data/dataloader.js";
import { ArrayDataset, Subset } from "../../src/data/dataset.js";
import type { TransformSpec } from "../../src/data/transforms/compose.js";
import { DataLoaderWorkerError } from "../../src/data/worker_pool.js";
import { FashionMNIST } from "../../src/data/fashion_mnist.js";
import { TextDataset } from "../../src/data/text.js";
import { memory } from "../../src/tensor/memory.js";
import { NumberedImages, type NumberedImagesOptions } from "../helpers/numbered_images.js";
import { missingFashionMnist, skipIfMissing } from "../helpers/prerequisites.js";

const AUGMENT: TransformSpec[] = [{ kind: "randomCrop", padding: 1, fill: -1 }, { kind: "randomHorizontalFlip" }, { kind: "randomErasing", p: 0.5, value: -2 }];
const LIMIT = { timeout: 60_000 };

/** A batch as plain numbers (x values and labels), disposing it. */
function plain(batch: LabelledBatch): number[][] {
  const out = [Array.from(batch.x.data), Array.from(batch.y.data), [...batch.x.shape]];
  batch.x.dispose();
  batch.y.dispose();
  return out;
}

type Options = Partial<DataLoaderOptions<never, LabelledBatch>>;

function loader(data: NumberedImagesOptions, options: Options = {}): DataLoader {
  return new DataLoader(new NumberedImages(data), { batchSize: 5, shuffle: true, seed: 3, transform: AUGMENT, ...options } as never);
}

/** The batches of `epochs` whole epochs, as plain numbers; closes the loader. */
function epochs(l: DataLoader, count: number): number[][][] {
  try {
    return Array.from({ length: count }, () => Array.from(l, plain)).flat();
  } finally {
    l.close();
  }
}

test("0, 1, 2 and 4 workers give the same batches, in the same order, over two epochs", LIMIT, () => {
  const reference = epochs(loader({ length: 53 }), 2);
  assert.equal(reference.length, 22, "11 batches per epoch, the last one partial");
  assert.deepEqual(reference[10]![2], [3, 1, 4, 5]);
  for (const [numWorkers, prefetchFactor] of [
    [1, 2],
    [2, 1],
    [2, 3],
    [4, 2],
  ] as const) {
    assert.deepEqual(epochs(loader({ length: 53 }, { numWorkers, prefetchFactor }), 2), reference, `${numWorkers} workers × ${prefetchFactor}`);
  }
  assert.notDeepEqual(epochs(loader({ length: 53 }, { seed: 4 }), 2), reference, "another seed, other batches");
});

test("batches wrap the workers' shared memory; disposing them returns it for reuse", LIMIT, () => {
  const l = loader({ length: 200 }, { numWorkers: 2, prefetchFactor: 2 });
  const before = memory.report().current.activation;
  const buffers = new Set<ArrayBufferLike>();
  let held: LabelledBatch | null = null;
  for (const batch of l) {
    assert.ok(batch.x.data.buffer instanceof SharedArrayBuffer);
    assert.equal(batch.x.data.buffer, batch.y.data.buffer, "x and y share one slot buffer");
    buffers.add(batch.x.data.buffer);
    held?.x.dispose();
    held?.y.dispose();
    held = batch;
  }
  held!.x.dispose();
  held!.y.dispose();
  l.close();
  // 4 slots, each swapping its buffer for a free one when a batch is handed out; the consumer holds at most 2.
  assert.ok(buffers.size <= 6, `40 batches used ${buffers.size} buffers`);
  assert.equal(memory.report().current.activation, before, "every batch's bytes were released");
});

test("resuming mid-epoch with prefetch in flight continues exactly, with any worker count", LIMIT, () => {
  const reference = epochs(loader({ length: 53 }), 2);
  const first = loader({ length: 53 }, { numWorkers: 2 });
  const seen = Array.from(first, plain);
  const taken: number[][][] = [];
  for (const batch of first) {
    taken.push(plain(batch));
    if (taken.length === 3) break;
  }
  const saved = first.state();
  assert.deepEqual(saved, { epoch: 1, batchIndex: 3 }, "the state counts batches handed out, not those prefetched");
  first.close();
  for (const numWorkers of [0, 1, 4]) {
    const resumed = loader({ length: 53 }, { numWorkers });
    resumed.loadState(saved);
    const rest = Array.from(resumed, plain);
    resumed.close();
    assert.deepEqual([...seen, ...taken, ...rest], reference, `resumed on ${numWorkers} workers`);
  }
});

test("breaking out of a loop and looping again continues where it stopped", LIMIT, () => {
  const reference = epochs(loader({ length: 30 }), 1);
  const l = loader({ length: 30 }, { numWorkers: 2 });
  const got: number[][][] = [];
  for (const batch of l) {
    got.push(plain(batch));
    if (got.length === 2) break;
  }
  for (const batch of l) got.push(plain(batch));
  l.close();
  assert.deepEqual(got, reference);
});

test("an exception in a worker surfaces with the sample index and the worker's stack", LIMIT, () => {
  const l = loader({ length: 40, throwAt: 17 }, { numWorkers: 2, shuffle: false });
  let error: unknown;
  const got: number[][][] = [];
  try {
    for (const batch of l) got.push(plain(batch));
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof DataLoaderWorkerError, String(error));
  assert.match(error.message, /dataset index 17 \(sample 2 of batch 3, epoch 0\) failed: bad record 17/);
  assert.equal(error.index, 17);
  assert.match(error.stack!, /readRecord/, "the original stack, from the dataset's code");
  assert.equal(got.length, 3, "the batches before the failing one were delivered");
  assert.deepEqual(l.state(), { epoch: 0, batchIndex: 3 }, "the failing batch was not counted");
  l.close();
  const inThread = loader({ length: 40, throwAt: 17 }, { shuffle: false });
  assert.throws(
    () => [...inThread].forEach(plain),
    (err: unknown) => err instanceof SampleError && err.index === 17 && /dataset index 17/.test(err.message),
  );
});

test("a corrupt sample is a clear error naming its index, with or without workers", LIMIT, () => {
  for (const numWorkers of [0, 2]) {
    const l = loader({ length: 20, corruptAt: 8 }, { numWorkers, shuffle: false, transform: [] });
    assert.throws(
      () => [...l].forEach(plain),
      /dataset index 8 \(sample 3 of batch 1, epoch 0\) has image Float32Array\(5\), expected \{ image: Float32Array\(20\) for shape \[1, 4, 5\], label: int32 number \}/,
    );
    l.close();
  }
});

test("a worker killed mid-epoch is replaced and the batches are unchanged", LIMIT, async () => {
  const reference = epochs(loader({ length: 60 }), 1);
  const l = loader({ length: 60 }, { numWorkers: 2 });
  const iterator = l[Symbol.iterator]();
  const got = [plain(iterator.next().value!), plain(iterator.next().value!)];
  await l.workers!.killWorker(0);
  const start = performance.now();
  for (let next = iterator.next(); !next.done; next = iterator.next()) got.push(plain(next.value));
  assert.ok(performance.now() - start < 20_000, "recovered in bounded time");
  assert.equal(l.workers!.restartCount, 1);
  l.close();
  assert.deepEqual(got, reference);
});

test("a killed worker stops the run with a clear error when no restarts are left", LIMIT, async () => {
  const reference = epochs(loader({ length: 60 }), 1);
  const l = loader({ length: 60 }, { numWorkers: 2, maxWorkerRestarts: 0 });
  const iterator = l[Symbol.iterator]();
  const got = [plain(iterator.next().value!)];
  await l.workers!.killWorker(1);
  assert.throws(() => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) got.push(plain(next.value));
  }, /DataLoader: worker 1 \(thread \d+\) ended while making batch \d+ of epoch 0; 0 of 0 allowed restarts \(maxWorkerRestarts\) were used/);
  got.push(...Array.from(l, plain));
  assert.deepEqual(got, reference, "a new loop starts new workers and finishes the epoch where the error left it");
  l.close();
});

test("a sample that kills its worker every time ends in an error, not a hang", LIMIT, () => {
  const l = loader({ length: 30, exitAt: 12 }, { numWorkers: 2, shuffle: false, maxWorkerRestarts: 2 });
  assert.throws(() => [...l].forEach(plain), /worker 0 \(thread \d+\) ended while making batch 2 of epoch 0; 2 of 2 allowed restarts/);
});

test("a stuck worker fails after the timeout", LIMIT, () => {
  const l = loader({ length: 10, delayMs: 400 }, { numWorkers: 1, timeout: 300 });
  assert.throws(() => [...l].forEach(plain), /batch 0 of epoch 0 took over 300 ms in worker 0 \(timeout\)/);
  l.close();
});

test("a worker that cannot rebuild the dataset fails at once, naming why", LIMIT, () => {
  const ds = new NumberedImages({ length: 10 });
  ds.workerSpec = () => ({ module: new URL("../helpers/numbered_images.js", import.meta.url).href, export: "nothingHere", args: {} });
  const l = new DataLoader(ds, { batchSize: 2, numWorkers: 1 });
  assert.throws(() => [...l], /DataLoader: worker 0 could not start: .*exports no function "nothingHere"/);
});

test("workers need a dataset that describes itself and a layout, not a collate function", () => {
  const plainData = new ArrayDataset([{ image: new Float32Array(2), label: 0 }], [2]);
  assert.throws(
    () => new DataLoader(plainData, { batchSize: 1, numWorkers: 1 }),
    /numWorkers > 0 needs a dataset that worker threads can rebuild, but ArrayDataset has no workerSpec\(\)/,
  );
  assert.throws(() => new DataLoader(new Subset(plainData, [0]), { batchSize: 1, numWorkers: 1 }), /but ArrayDataset has no workerSpec/);
  assert.throws(() => new DataLoader(new NumberedImages({ length: 4 }), { batchSize: 1, numWorkers: 1, collate: (s) => s }), /needs a BatchLayout as collate/);
  assert.throws(
    () => new DataLoader(new NumberedImages({ length: 4 }), { batchSize: 1, numWorkers: -1 }),
    /numWorkers must be an integer in \[0, 64\], got -1/,
  );
});

test("a Subset goes through workers as its base dataset and indices", LIMIT, () => {
  const subset = (numWorkers: number) =>
    new DataLoader(new Subset(new NumberedImages({ length: 30 }), [29, 3, 7, 11, 5]), { batchSize: 2, numWorkers, transform: AUGMENT });
  const inThread = epochs(subset(0), 1);
  assert.deepEqual(
    inThread.map((b) => b[1]),
    [[9, 3], [7, 1], [5]],
  );
  assert.deepEqual(epochs(subset(2), 1), inThread);
});

test("Fashion-MNIST with augmentation: 2 workers give the training thread's batches, from shared pixels", {
  ...LIMIT,
  skip: skipIfMissing(missingFashionMnist()),
}, () => {
  const test = FashionMNIST.load({ split: "test" });
  const augment: TransformSpec[] = [{ kind: "randomCrop", padding: 2, fill: FashionMNIST.black }, { kind: "randomHorizontalFlip" }];
  const first = (numWorkers: number) => {
    const l = new DataLoader(test, { batchSize: 64, shuffle: true, seed: 5, transform: augment, numWorkers });
    const out: number[][][] = [];
    for (const batch of l) {
      out.push(plain(batch));
      if (out.length === 6) break;
    }
    l.close();
    return out;
  };
  const inThread = first(0);
  assert.deepEqual(inThread[0]![2], [64, 1, 28, 28]);
  assert.ok(inThread[0]![0]!.includes(FashionMNIST.black));
  assert.deepEqual(first(2), inThread);
});

test("text windows go through workers: the same random windows as the training thread", LIMIT, () => {
  const tokens = Int32Array.from({ length: 3000 }, (_, i) => (i * 7) % 101);
  const { train } = TextDataset.split(tokens, { context: 16 });
  const windows = (numWorkers: number) => {
    const l = train.loader({ batchSize: 8, seed: 2, numWorkers });
    const out = [...Array.from(l, plain), ...Array.from(l, plain)];
    l.close();
    return out;
  };
  const inThread = windows(0);
  assert.deepEqual(inThread[0]![2], [8, 16]);
  assert.deepEqual(windows(2), inThread);
});
