import type { Tensor } from "../tensor/tensor.js";
import { collateWith, tokenLayout } from "./layout.js";
import { DataLoader, type DataLoaderOptions } from "./dataloader.js";
import { checkIndex, type Dataset } from "./dataset.js";
import { DistributedSampler } from "./distributed_sampler.js";
import { EvenlySpacedSampler } from "./sampler.js";
import { UniformSampler } from "./uniform_sampler.js";
import type { WorkerSpec } from "./worker_spec.js";

/**
 * Text or tokens too short for what was asked of them: one window of context + 1 tokens, or
 * the validation windows. The message names both sizes.
 * @example try { TextDataset.split(tokens, { context: 128 }); } catch (e) { if (e instanceof TooFewTokensError) ... }
 */
export class TooFewTokensError extends RangeError {}

/** A language-modelling sample: `context` tokens and the `context` tokens that follow each. */
export interface TokenWindow {
  x: Int32Array;
  y: Int32Array;
}

/** A batch of token windows: inputs x [B, T] int32 and next-token targets y [B, T] int32. */
export interface TokenBatch {
  x: Tensor;
  y: Tensor;
}

/** Where a loader's batches are made: worker threads and how far ahead they work (see DataLoaderOptions). */
type WorkerOptions = Pick<DataLoaderOptions<TokenWindow, TokenBatch>, "numWorkers" | "prefetchFactor">;

export interface TextLoaderOptions extends WorkerOptions {
  batchSize: number;
  /** The seed of the random windows (default 0). */
  seed?: number;
  /** This rank's share of a distributed job: the windows of each global batch are split between the ranks. */
  shard?: { rank: number; worldSize: number };
}

/**
 * Stacks token windows into one batch of pooled int32 tensors (memory category "activation"),
 * which the caller disposes after the step.
 *
 * @example
 * const { x, y } = collateTokens([train.get(0), train.get(5)]);
 * x.shape; // [2, 128]
 * x.dispose(); y.dispose();
 */
export function collateTokens(samples: readonly TokenWindow[]): TokenBatch {
  return collateWith(tokenLayout((samples[0] as Partial<TokenWindow> | null)?.x?.length ?? 0), samples, "collateTokens");
}

/**
 * Rebuilds a text dataset in a worker thread (see `TextDataset.workerSpec`).
 * @example const ds = textDatasetInWorker({ tokens, context: 128, name: "train" });
 */
export const textDatasetInWorker = (args: { tokens: Int32Array; context: number; name: string }): TextDataset =>
  new TextDataset(args.tokens, args.context, args.name);

function checkPositive(value: unknown, name: string, where = "TextDataset"): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${where}: ${name} must be a positive integer, got ${JSON.stringify(value) ?? String(value)}`);
  }
  return value;
}

/**
 * Where a run of `count` tokens splits into training and validation: floor(trainFraction ·
 * count), as Python's `int(0.9 * n)`; trainFraction defaults to 0.9.
 * @example trainSplitPoint(1005, 0.9, "TextDataset.split") // 904
 */
export function trainSplitPoint(count: number, trainFraction: number | undefined, where: string): number {
  const fraction = trainFraction ?? 0.9;
  if (typeof fraction !== "number" || !(fraction > 0 && fraction < 1)) {
    throw new RangeError(`${where}: trainFraction must be a number strictly between 0 and 1, got ${JSON.stringify(fraction)}`);
  }
  return Math.floor(fraction * count);
}

/** A dataset of next-token windows cut from a run of tokens (in memory or in a token file): what the window loaders need. */
export interface WindowDataset extends Dataset<TokenWindow> {
  readonly context: number;
  /** How many tokens the windows are cut from. */
  readonly tokenCount: number;
}

/**
 * Batches of random windows of `dataset`, `batchesPerEpoch` per epoch (default: as many as
 * cover its tokens once, at least one), drawn anew each epoch from `seed` by a UniformSampler.
 * `where` names the dataset's class in errors.
 *
 * @example const loader = randomWindowLoader(train, { batchSize: 32, seed: 1 }, "TokenFileDataset");
 */
export function randomWindowLoader(
  dataset: WindowDataset,
  options: TextLoaderOptions & { batchesPerEpoch?: number },
  where: string,
): DataLoader<TokenWindow, TokenBatch> {
  const batchSize = checkPositive(options?.batchSize, "batchSize", where);
  // Distributed: every rank draws the same global windows (batchSize × worldSize per step) and keeps its shard.
  const world = options.shard?.worldSize ?? 1;
  const perEpoch = options.batchesPerEpoch ?? Math.max(1, Math.floor(dataset.tokenCount / (dataset.context * batchSize * world)));
  const samples = checkPositive(perEpoch, "batchesPerEpoch", where) * batchSize;
  const global = new UniformSampler(dataset.length, { samples: samples * world, seed: options.seed ?? 0 });
  const sampler = options.shard ? new DistributedSampler(global, options.shard) : global;
  return new DataLoader(dataset, {
    batchSize,
    sampler,
    collate: tokenLayout(dataset.context),
    numWorkers: options.numWorkers ?? 0,
    prefetchFactor: options.prefetchFactor ?? 2,
  });
}

/**
 * `batches` (default 20) batches of windows of `dataset` spread evenly over its tokens, the
 * same on every pass: the recipe's fixed validation batches, placed as the PyTorch twin places them.
 *
 * @example for (const { x, y } of fixedWindowLoader(val, { batchSize: 32 }, "TokenFileDataset")) { ... }
 */
export function fixedWindowLoader(
  dataset: WindowDataset,
  options: { batchSize: number; batches?: number },
  where: string,
): DataLoader<TokenWindow, TokenBatch> {
  const batchSize = checkPositive(options?.batchSize, "batchSize", where);
  const windows = checkPositive(options.batches ?? 20, "batches", where) * batchSize;
  if (windows > dataset.length) throw new TooFewTokensError(`${where}: ${windows} validation windows exceed the ${dataset.length} this text holds`);
  return new DataLoader(dataset, { batchSize, sampler: new EvenlySpacedSampler(dataset.length, windows), collate: tokenLayout(dataset.context) });
}

/**
 * Every window of `context + 1` consecutive tokens of a token array, for next-token
 * prediction: sample i is the window starting at token i, as { x: tokens[i, i+T), y:
 * tokens[i+1, i+T+1) }, so there are tokens.length - context samples. The tokens are shared,
 * not copied; each sample is a fresh copy of its window.
 *
 * Training draws random windows, as the GPT recipe (and nanoGPT's `torch.randint`) does:
 * `loader()` is a DataLoader whose `UniformSampler` draws a fixed number of window starts
 * per epoch from a seeded stream, so a run's batches are a pure function of (seed, epoch,
 * batch index) and the loader's JSON state resumes them exactly. `fixedLoader()` gives the
 * same windows on every pass, for a validation loss comparable from one evaluation to the next.
 *
 * @example
 * const { train, val } = TextDataset.split(tokenizer.encode(text), { context: 128 });
 * const loader = train.loader({ batchSize: 32, seed: 0 });
 * for (const { x, y } of loader) { ...; x.dispose(); y.dispose(); }  // x, y [32, 128] int32
 * const evalBatches = val.fixedLoader({ batchSize: 32, batches: 20 });
 */
export class TextDataset implements WindowDataset {
  readonly length: number;
  readonly sampleShape: readonly number[];
  private sharedTokens: Int32Array | null = null;

  constructor(
    readonly tokens: Int32Array,
    readonly context: number,
    /** Names the dataset in errors ("train", "val"). */
    readonly name = "text",
  ) {
    if (!(tokens instanceof Int32Array)) throw new TypeError(`TextDataset(${name}): tokens must be an Int32Array`);
    checkPositive(context, "context");
    if (tokens.length < context + 1) {
      throw new TooFewTokensError(`TextDataset(${name}): ${tokens.length} tokens are too few for one window of context ${context} + 1 target`);
    }
    this.length = tokens.length - context;
    this.sampleShape = [context];
  }

  /**
   * The first `trainFraction` (default 0.9) of the tokens to train on and the rest to validate
   * on, as contiguous blocks (the split point is floor(trainFraction * n), as Python's
   * `int(0.9 * n)`). Windows never cross the split, so no validation text is trained on.
   *
   * @example const { train, val } = TextDataset.split(tokens, { context: 128 });
   */
  static split(tokens: Int32Array, options: { context: number; trainFraction?: number }): { train: TextDataset; val: TextDataset } {
    const at = trainSplitPoint(tokens.length, options.trainFraction, "TextDataset.split");
    return {
      train: new TextDataset(tokens.subarray(0, at), options.context, "train"),
      val: new TextDataset(tokens.subarray(at), options.context, "val"),
    };
  }

  /**
   * How a DataLoader worker thread rebuilds this dataset: the tokens are copied once into shared
   * memory (unless they already are shared), which every worker then reads.
   * @example train.workerSpec().args // { tokens, context: 128, name: "train" }
   */
  workerSpec(): WorkerSpec {
    if (!(this.tokens.buffer instanceof SharedArrayBuffer)) {
      this.sharedTokens ??= new Int32Array(new SharedArrayBuffer(this.tokens.byteLength));
      this.sharedTokens.set(this.tokens);
    }
    return {
      module: import.meta.url,
      export: "textDatasetInWorker",
      args: { tokens: this.sharedTokens ?? this.tokens, context: this.context, name: this.name },
    };
  }

  /**
   * The window starting at token `start`.
   * @example const { x, y } = train.get(0); // y[i] === x[i + 1]
   */
  get(start: number): TokenWindow {
    checkIndex(start, this.length, `TextDataset(${this.name})`);
    const window = this.tokens.slice(start, start + this.context + 1);
    return { x: window.subarray(0, this.context), y: window.subarray(1) };
  }

  /** How many tokens the windows are cut from. */
  get tokenCount(): number {
    return this.tokens.length;
  }

  /**
   * Batches of random windows, `batchesPerEpoch` per epoch (default: as many as cover the
   * tokens once, at least one), drawn anew each epoch from `seed`.
   * @example const loader = train.loader({ batchSize: 32, seed: 1 }); loader.loadState(saved);
   */
  loader(options: TextLoaderOptions & { batchesPerEpoch?: number }): DataLoader<TokenWindow, TokenBatch> {
    return randomWindowLoader(this, options, "TextDataset");
  }

  /**
   * `batches` (default 20) batches of windows spread evenly over the text, the same on every
   * pass: the recipe's fixed validation batches, placed as the PyTorch twin places them.
   * @example for (const { x, y } of val.fixedLoader({ batchSize: 32 })) { ... }
   */
  fixedLoader(options: { batchSize: number; batches?: number }): DataLoader<TokenWindow, TokenBatch> {
    return fixedWindowLoader(this, options, "TextDataset");
  }
}
