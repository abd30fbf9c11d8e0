import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

import { DTYPES } from "../tensor/dtype.js";
import { kernels } from "../backends/index.js";
import { cachedArrays } from "./array_cache.js";
import type { LabelledSample } from "./collate.js";
import { checkIndex, type Dataset } from "./dataset.js";
import { readIdxGz } from "./idx.js";
import type { WorkerSpec } from "./worker_spec.js";
import { DataFileError } from "./data_file_error.js";

export type FashionMNISTSplit = "train" | "test";

export interface FashionMNISTOptions {
  split: FashionMNISTSplit;
  /** The folder holding the four .gz files (default: where Debian's dataset-fashion-mnist puts them). */
  root?: string;
  /**
   * Where the decoded split is kept between loads (default "memory"): "memory" keeps it for
   * this process; "disk" also stores it in the cache folder (array_cache.ts), keyed by the files
   * and the decoder's version, so later processes skip decoding; "none" decodes on every load.
   */
  cache?: FashionMNISTCache;
  /** The disk cache's folder (default `cacheDir()`). */
  cacheDir?: string;
  /** Where the warning about a damaged disk cache file goes (default: standard error). */
  warn?: (line: string) => void;
}

export type FashionMNISTCache = "memory" | "disk" | "none";

const SIDE = 28;
const CLASSES = 10;
const MEAN = 0.286;
const STD = 0.353;
const FILE_PREFIX: Record<FashionMNISTSplit, string> = { train: "train", test: "t10k" };
const INSTALL_HINT = "install it with `apt-get install dataset-fashion-mnist`, or pass the folder holding the files as `root`";

/**
 * The usual per-pixel normalisation of Fashion-MNIST, as every value a byte can take:
 * (x/255 - 0.2860) / 0.3530, computed in double and rounded once to float32. (torchvision's
 * ToTensor + Normalize rounds after each step, so values may differ from it in the last bit.)
 */
const NORMALISED = Float32Array.from({ length: 256 }, (_, x) => (x / 255 - MEAN) / STD);

/** The decoder's identity in the disk cache's key: bump the version whenever decoding changes its output. */
const DECODER = { name: "fashion-mnist/idx-normalise", version: 1, params: { mean: MEAN, std: STD } };

/** Reads and validates one split's two files and normalises its pixels. */
function decode(imagesPath: string, labelsPath: string): { images: Uint8Array; labels: Uint8Array; pixels: Float32Array } {
  const images = readIdxGz(imagesPath, 3);
  const [count, rows, cols] = images.dims as [number, number, number];
  if (rows !== SIDE || cols !== SIDE) throw new DataFileError(`${imagesPath}: images are ${rows}×${cols}, expected ${SIDE}×${SIDE}`);
  const labels = readIdxGz(labelsPath, 1);
  if (labels.dims[0] !== count) {
    throw new DataFileError(`${labelsPath}: holds ${labels.dims[0]} labels, but ${imagesPath} holds ${count} images; the counts must be equal`);
  }
  const bad = labels.data.findIndex((label) => label >= CLASSES);
  if (bad >= 0) throw new DataFileError(`${labelsPath}: label ${labels.data[bad]} at index ${bad} is outside 0..${CLASSES - 1}`);
  // Decoded up front (188 MB for the training split), as the PyTorch twins hold it: a sample
  // is then a view and a batch is plain copies, which keeps the training thread off decoding.
  const pixels = new Float32Array(new SharedArrayBuffer(4 * images.data.length));
  for (let i = 0; i < pixels.length; i++) pixels[i] = NORMALISED[images.data[i]!]!;
  return { images: shared(images.data), labels: shared(labels.data), pixels };
}

/** `array` in shared memory (itself when it already is), which worker threads receive without copying. */
function shared<T extends Uint8Array | Float32Array>(array: T): T {
  if (array.buffer instanceof SharedArrayBuffer) return array;
  const out = new (array.constructor as new (buffer: SharedArrayBuffer) => T)(new SharedArrayBuffer(array.byteLength));
  out.set(array);
  return out;
}

/** What a worker thread needs to rebuild a split: all of it in shared memory. */
interface SharedSplit {
  split: FashionMNISTSplit;
  images: Uint8Array;
  labels: Uint8Array;
  pixels: Float32Array;
}

/**
 * Rebuilds a split in a worker thread from the shared memory of the training thread's copy (see `workerSpec`).
 * @example const train = fashionMnistInWorker(spec.args as never);
 */
export const fashionMnistInWorker = (args: SharedSplit): FashionMNIST => FashionMNIST.fromShared(args);

/** Decoded datasets by file path and version, so train and eval in one process read a file once. */
const cache = new Map<string, FashionMNIST>();

function fileKey(path: string): string {
  const st = statSync(path);
  return `${path}:${st.size}:${st.mtimeMs}`;
}

/**
 * Zalando's Fashion-MNIST: 28×28 grey images of 10 kinds of clothing, 60000 to train and
 * 10000 to test, read from the IDX files of Debian's `dataset-fashion-mnist` package. The
 * pixels are decoded once into shared memory (188 MB for train), which DataLoader worker
 * threads read without a copy; a sample is { image: Float32Array(784) normalised, label }
 * with sampleShape [1, 28, 28].
 *
 * @example
 * const train = FashionMNIST.load({ split: "train" });
 * train.length;                  // 60000
 * const { image, label } = train.get(0);
 * FashionMNIST.classes[label];   // "Ankle boot"
 */
export class FashionMNIST implements Dataset<LabelledSample> {
  static readonly defaultRoot = "/usr/share/datasets/fashion-mnist";
  static readonly classes: readonly string[] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
  /** The training set's pixel mean and standard deviation (of x/255) that samples are normalised with. */
  static readonly mean = MEAN;
  static readonly std = STD;
  /** A black pixel after normalisation: the padding value that matches the images' background. */
  static readonly black = NORMALISED[0]!;
  readonly length: number;
  readonly sampleShape: readonly number[] = [1, SIDE, SIDE];

  private constructor(
    readonly split: FashionMNISTSplit,
    /** Raw pixels, [length, 28, 28] row-major. */
    readonly images: Uint8Array,
    readonly labels: Uint8Array,
    /** Normalised pixels of every image, [length, 28, 28] row-major, decoded once. */
    private readonly pixels: Float32Array,
  ) {
    this.length = labels.length;
  }

  /**
   * A split over memory another thread decoded (what `workerSpec` sends).
   * @example const copy = FashionMNIST.fromShared({ split: "test", images, labels, pixels });
   */
  static fromShared(args: SharedSplit): FashionMNIST {
    return new FashionMNIST(args.split, args.images, args.labels, args.pixels);
  }

  /**
   * How a DataLoader worker thread rebuilds this split: from the same shared memory, not the files.
   * @example new DataLoader(FashionMNIST.load({ split: "train" }), { batchSize: 128, numWorkers: 1 })
   */
  workerSpec(): WorkerSpec {
    const args: SharedSplit = { split: this.split, images: this.images, labels: this.labels, pixels: this.pixels };
    return { module: import.meta.url, export: "fashionMnistInWorker", args };
  }

  /**
   * Reads and validates one split, or returns it from this process's cache (or, with cache
   * "disk", the disk cache) when the files are unchanged. Every error names the file and what
   * is wrong with it.
   * @example const test = FashionMNIST.load({ split: "test", root: "./data/fashion", cache: "disk" });
   */
  static load(options: FashionMNISTOptions): FashionMNIST {
    const split = options?.split;
    if (split !== "train" && split !== "test") throw new RangeError(`FashionMNIST: split must be "train" or "test", got ${JSON.stringify(split)}`);
    const root = resolve(options.root ?? FashionMNIST.defaultRoot);
    const imagesPath = join(root, `${FILE_PREFIX[split]}-images-idx3-ubyte.gz`);
    const labelsPath = join(root, `${FILE_PREFIX[split]}-labels-idx1-ubyte.gz`);
    for (const path of [imagesPath, labelsPath]) {
      if (!existsSync(path)) {
        const where = existsSync(root) ? "" : ` (the folder ${root} does not exist)`;
        throw new DataFileError(`FashionMNIST: ${path} not found${where}; ${INSTALL_HINT}`);
      }
    }
    const mode = options.cache ?? "memory";
    if (mode !== "memory" && mode !== "disk" && mode !== "none")
      throw new RangeError(`FashionMNIST: cache must be "memory", "disk" or "none", got ${JSON.stringify(mode)}`);
    const key = `${fileKey(imagesPath)}|${fileKey(labelsPath)}`;
    const cached = mode === "none" ? undefined : cache.get(key);
    if (cached !== undefined) return cached;

    const { images, labels, pixels } =
      mode === "disk"
        ? cachedArrays(`fashion-mnist-${split}`, { sources: [imagesPath, labelsPath], decoder: DECODER }, () => decode(imagesPath, labelsPath), {
            dir: options.cacheDir,
            warn: options.warn,
          }).arrays
        : decode(imagesPath, labelsPath);
    // The disk cache reads into ordinary memory; worker threads need it shared.
    const dataset = new FashionMNIST(split, shared(images as Uint8Array), shared(labels as Uint8Array), shared(pixels as Float32Array));
    if (mode !== "none") cache.set(key, dataset);
    return dataset;
  }

  /**
   * Forgets the decoded datasets, so their memory can be collected once no one holds them.
   * @example FashionMNIST.clearCache();
   */
  static clearCache(): void {
    cache.clear();
  }

  /**
   * Sample `index`: its normalised pixels (784 float32, row-major; a view of the decoded split,
   * not to be written) and its class.
   * @example const { image, label } = FashionMNIST.load({ split: "test" }).get(0);
   */
  get(index: number): LabelledSample {
    checkIndex(index, this.length, `FashionMNIST(${this.split})`);
    const size = SIDE * SIDE;
    return { image: this.pixels.subarray(index * size, (index + 1) * size), label: this.labels[index]! };
  }

  /**
   * The images and labels at `indices` into a batch's x [n, 1, 28, 28] and y [n]: one native
   * row gather instead of a copy per sample.
   * @example train.gather(Int32Array.of(3, 1), x, y); // x = images 3 and 1, y = their labels
   */
  gather(indices: Int32Array, x: Float32Array | Int32Array, y: Float32Array | Int32Array): void {
    for (let k = 0; k < indices.length; k++) {
      checkIndex(indices[k]!, this.length, `FashionMNIST(${this.split})`);
      y[k] = this.labels[indices[k]!]!;
    }
    kernels.embedding(DTYPES.float32.code, this.pixels, this.length, SIDE * SIDE, indices, x);
  }
}
