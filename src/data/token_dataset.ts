import type { DataLoader } from "./dataloader.js";
import { checkIndex } from "./dataset.js";
import {
  fixedWindowLoader,
  randomWindowLoader,
  TooFewTokensError,
  trainSplitPoint,
  type TextLoaderOptions,
  type TokenBatch,
  type TokenWindow,
  type WindowDataset,
} from "./text.js";
import type { TokenFile } from "./token_file.js";

/**
 * Next-token windows over a range of a token file (`turbine data prepare`), read from disk
 * one window at a time: `get` does one positioned read (fs.readSync) of context + 1 tokens
 * into a reusable buffer of (context + 1) × bytes-per-token bytes, so the dataset holds that
 * buffer and nothing that grows with the file. The operating system's page cache does the
 * caching (its pages are not this process's memory), which is why there is no page LRU here:
 * it would hold copies of pages the kernel already keeps, and count them against the process.
 *
 * Windows, samplers and loaders are those of `TextDataset`: on the same text, sample i, the
 * random batches of a seed and the fixed validation batches are identical, so a corpus can
 * move from memory to a token file without changing a run.
 *
 * @example
 * const { train, val } = TokenFileDataset.split(TokenFile.open("corpus.tokens"), { context: 128 });
 * const loader = train.loader({ batchSize: 32, seed: 0 });
 * for (const { x, y } of loader) { ...; x.dispose(); y.dispose(); }
 */
export class TokenFileDataset implements WindowDataset {
  readonly length: number;
  readonly sampleShape: readonly number[];
  readonly tokenCount: number;
  /** The one read buffer, reused by every `get`. */
  private readonly scratch: Buffer;

  constructor(
    readonly file: TokenFile,
    readonly context: number,
    /** The token range [begin, end) of the file the windows are cut from (default: all of it). */
    readonly range: { begin: number; end: number } = { begin: 0, end: file.count },
    /** Names the dataset in errors ("train", "val"). */
    readonly name = "tokens",
  ) {
    const where = `TokenFileDataset(${name})`;
    if (!Number.isSafeInteger(context) || context < 1) throw new RangeError(`${where}: context must be a positive integer, got ${context}`);
    const { begin, end } = range;
    if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && begin >= 0 && begin <= end && end <= file.count)) {
      throw new RangeError(`${where}: range [${begin}, ${end}) is not inside the ${file.count} tokens of ${file.path}`);
    }
    this.tokenCount = end - begin;
    if (this.tokenCount < context + 1) {
      throw new TooFewTokensError(`${where}: ${this.tokenCount} tokens of ${file.path} are too few for one window of context ${context} + 1 target`);
    }
    this.length = this.tokenCount - context;
    this.sampleShape = [context];
    this.scratch = Buffer.alloc((context + 1) * file.bytesPerToken);
  }

  /**
   * The leading `trainFraction` (default 0.9) of the file's tokens to train on and the rest to
   * validate on, split where `TextDataset.split` splits the same tokens.
   * @example const { train, val } = TokenFileDataset.split(TokenFile.open("kjv.tokens"), { context: 128 });
   */
  static split(file: TokenFile, options: { context: number; trainFraction?: number }): { train: TokenFileDataset; val: TokenFileDataset } {
    const at = trainSplitPoint(file.count, options.trainFraction, "TokenFileDataset.split");
    return {
      train: new TokenFileDataset(file, options.context, { begin: 0, end: at }, "train"),
      val: new TokenFileDataset(file, options.context, { begin: at, end: file.count }, "val"),
    };
  }

  /** Bytes this dataset holds for reading, whatever the file's size. */
  get bufferBytes(): number {
    return this.scratch.length;
  }

  /**
   * The window starting at token `start` of the range, read from the file.
   * @example const { x, y } = train.get(0); // y[i] === x[i + 1]
   */
  get(start: number): TokenWindow {
    checkIndex(start, this.length, `TokenFileDataset(${this.name})`);
    const window = new Int32Array(this.context + 1);
    this.file.read(this.range.begin + start, window, this.scratch);
    return { x: window.subarray(0, this.context), y: window.subarray(1) };
  }

  /**
   * Batches of random windows, as `TextDataset.loader`.
   * @example const loader = train.loader({ batchSize: 32, seed: 1 });
   */
  loader(options: TextLoaderOptions & { batchesPerEpoch?: number }): DataLoader<TokenWindow, TokenBatch> {
    return randomWindowLoader(this, options, "TokenFileDataset");
  }

  /**
   * Fixed validation batches, as `TextDataset.fixedLoader`.
   * @example for (const { x, y } of val.fixedLoader({ batchSize: 32 })) { ... }
   */
  fixedLoader(options: { batchSize: number; batches?: number }): DataLoader<TokenWindow, TokenBatch> {
    return fixedWindowLoader(this, options, "TokenFileDataset");
  }
}
