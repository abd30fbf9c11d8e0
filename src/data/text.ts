import { Tensor } from "../tensor/tensor.js";
import { DataLoader } from "./dataloader.js";
import { checkIndex, type Dataset } from "./dataset.js";
import { EvenlySpacedSampler, type Sampler } from "./sampler.js";
import { DistributedSampler } from "./distributed_sampler.js";
import { UniformSampler } from "./uniform_sampler.js";

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

export interface TextLoaderOptions {
  batchSize: number;
  /** The seed of the random windows (default 0). */
  seed?: number;
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
  if (samples.length === 0) throw new RangeError("collateTokens: cannot make a batch of 0 samples");
  const context = (samples[0] as Partial<TokenWindow> | null)?.x?.length ?? 0;
  samples.forEach((s: Partial<TokenWindow> | null, i) => {
    if (!(s?.x instanceof Int32Array) || !(s.y instanceof Int32Array) || s.x.length !== context || s.y.length !== context) {
      const got = s?.x instanceof Int32Array && s.y instanceof Int32Array ? `{ x: Int32Array(${s.x.length}), y: Int32Array(${s.y.length}) }` : "not a token window";
      throw new TypeError(`collateTokens: sample ${i} is ${got}, expected { x: Int32Array(${context}), y: Int32Array(${context}) } as sample 0`);
    }
  });
  const x = Tensor.empty([samples.length, context], "int32");
  const y = Tensor.empty([samples.length, context], "int32");
  samples.forEach((s, i) => {
    (x.data as Int32Array).set(s.x, i * context);
    (y.data as Int32Array).set(s.y, i * context);
  });
  return { x, y };
}

function checkPositive(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`TextDataset: ${name} must be a positive integer, got ${JSON.stringify(value) ?? String(value)}`);
  }
  return value;
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
export class TextDataset implements Dataset<TokenWindow> {
  readonly length: number;
  readonly sampleShape: readonly number[];

  constructor(
    readonly tokens: Int32Array,
    readonly context: number,
    /** Names the dataset in errors ("train", "val"). */
    readonly name = "text",
  ) {
    if (!(tokens instanceof Int32Array)) throw new TypeError(`TextDataset(${name}): tokens must be an Int32Array`);
    checkPositive(context, "context");
    if (tokens.length < context + 1) {
      throw new RangeError(`TextDataset(${name}): ${tokens.length} tokens are too few for one window of context ${context} + 1 target`);
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
    const fraction = options.trainFraction ?? 0.9;
    if (typeof fraction !== "number" || !(fraction > 0 && fraction < 1)) {
      throw new RangeError(`TextDataset.split: trainFraction must be a number strictly between 0 and 1, got ${JSON.stringify(fraction)}`);
    }
    const at = Math.floor(fraction * tokens.length);
    return {
      train: new TextDataset(tokens.subarray(0, at), options.context, "train"),
      val: new TextDataset(tokens.subarray(at), options.context, "val"),
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

  /**
   * Batches of random windows, `batchesPerEpoch` per epoch (default: as many as cover the
   * tokens once, at least one), drawn anew each epoch from `seed`.
   * @example const loader = train.loader({ batchSize: 32, seed: 1 }); loader.loadState(saved);
   */
  loader(options: TextLoaderOptions & { batchesPerEpoch?: number; shard?: { rank: number; worldSize: number } }): DataLoader<TokenWindow, TokenBatch> {
    const batchSize = checkPositive(options?.batchSize, "batchSize");
    // Distributed: every rank draws the same global windows (batchSize × worldSize per step) and keeps its shard.
    const world = options.shard?.worldSize ?? 1;
    const perEpoch = options.batchesPerEpoch ?? Math.max(1, Math.floor(this.tokens.length / (this.context * batchSize * world)));
    const samples = checkPositive(perEpoch, "batchesPerEpoch") * batchSize;
    const global = new UniformSampler(this.length, { samples: samples * world, seed: options.seed ?? 0 });
    return this.windowLoader(batchSize, options.shard ? new DistributedSampler(global, options.shard) : global);
  }

  /**
   * `batches` (default 20) batches of windows spread evenly over the text, the same on every
   * pass: the recipe's fixed validation batches, placed as the PyTorch twin places them.
   * @example for (const { x, y } of val.fixedLoader({ batchSize: 32 })) { ... }
   */
  fixedLoader(options: { batchSize: number; batches?: number }): DataLoader<TokenWindow, TokenBatch> {
    const batchSize = checkPositive(options?.batchSize, "batchSize");
    const windows = checkPositive(options.batches ?? 20, "batches") * batchSize;
    if (windows > this.length) throw new RangeError(`TextDataset: ${windows} validation windows exceed the ${this.length} this text holds`);
    return this.windowLoader(batchSize, new EvenlySpacedSampler(this.length, windows));
  }

  private windowLoader(batchSize: number, sampler: Sampler): DataLoader<TokenWindow, TokenBatch> {
    return new DataLoader(this, { batchSize, sampler, collate: collateTokens });
  }
}
