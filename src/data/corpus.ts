import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import { loadKjv } from "./kjv.js";
import { TextDataset, TooFewTokensError } from "./text.js";
import { CharTokenizer } from "./tokenizer.js";
import { DataFileError } from "./data_file_error.js";

export interface TextCorpusOptions {
  /** A UTF-8 text file to train on (default: the King James Bible, from `loadKjv`). */
  path?: string;
  /** Tokens per training window (default 128, the GPT recipe's). */
  context?: number;
  /** The leading share of the text to train on; the rest validates (default 0.9). */
  trainFraction?: number;
  /** Where the extracted KJV text is cached (default: `cacheDir()`). */
  cacheDir?: string;
}

/** A tokenized corpus, split into contiguous training and validation parts. */
export interface TextCorpus {
  text: string;
  tokenizer: CharTokenizer;
  tokens: Int32Array;
  train: TextDataset;
  val: TextDataset;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a UTF-8 text file (a leading byte-order mark is dropped); a missing file or invalid
 * UTF-8 is an error naming the path.
 *
 * @example const text = readTextFile("data/shakespeare.txt");
 */
export function readTextFile(path: string): string {
  const full = resolve(path);
  let bytes: Buffer;
  try {
    bytes = readFileSync(full);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataFileError(code === "ENOENT" ? `${full}: no such text file` : `${full}: cannot read the text file (${(err as Error).message})`, {
      cause: err,
    });
  }
  try {
    return utf8.decode(bytes);
  } catch (err) {
    throw new DataFileError(`${full}: is not valid UTF-8 text`, { cause: err });
  }
}

/**
 * A text corpus ready for a character-level language model: the text (the KJV by default, or
 * the file at `path`), a character tokenizer over all of it, and its tokens split 90/10 into
 * training and validation windows of `context` tokens.
 *
 * @example
 * const { tokenizer, train, val } = loadTextCorpus();          // the King James Bible
 * tokenizer.vocabSize;                                          // the model's vocabulary
 * const loader = train.loader({ batchSize: 32, seed: 0 });
 * const evalLoader = val.fixedLoader({ batchSize: 32, batches: 20 });
 */
export function loadTextCorpus(options: TextCorpusOptions = {}): TextCorpus {
  const text = options.path === undefined ? loadKjv({ cacheDir: options.cacheDir }) : readTextFile(options.path);
  try {
    const tokenizer = CharTokenizer.fromText(text);
    const tokens = tokenizer.encode(text);
    const { train, val } = TextDataset.split(tokens, { context: options.context ?? 128, trainFraction: options.trainFraction });
    return { text, tokenizer, tokens, train, val };
  } catch (err) {
    const source = options.path === undefined ? "the KJV text" : resolve(options.path);
    const Wrapped = err instanceof TooFewTokensError ? TooFewTokensError : Error;
    throw new Wrapped(`loadTextCorpus: ${source}: ${(err as Error).message}`, { cause: err });
  }
}
