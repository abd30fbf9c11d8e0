import { closeSync, openSync, readSync } from "node:fs";
import { resolve } from "node:path";

import { TokenFileError, TokenFileWriter, tokenDType, type TokenDType } from "./token_file.js";
import { CharTokenizer } from "./tokenizer.js";

export interface PrepareOptions {
  /** Bytes of text read at a time (default 4 MiB): memory use is a few times this, whatever the text's size. */
  chunkBytes?: number;
  /**
   * Polled after each chunk (a stop signal's flag): a reason ends the preparation there, the
   * temporary output removed, with a PrepareInterrupted.
   */
  stopRequested?: () => string | null;
}

/**
 * A preparation ended by PrepareOptions.stopRequested: nothing was written.
 * @example try { prepareTokenFile(text, out, { stopRequested }); } catch (e) { if (e instanceof PrepareInterrupted) console.error(e.reason); }
 */
export class PrepareInterrupted extends Error {
  constructor(readonly reason: string) {
    super(`interrupted by ${reason}`);
  }
}

export interface PrepareResult {
  tokens: number;
  vocabSize: number;
  dtype: TokenDType;
}

/**
 * Calls fn with the text of a UTF-8 file, `chunkBytes` at a time, each chunk whole characters
 * (a streaming decoder holds back a character split across reads), and stops with a
 * PrepareInterrupted after a chunk when `stopRequested` gives a reason. A leading byte-order
 * mark is dropped, as `readTextFile` does.
 */
function forEachTextChunk(path: string, chunkBytes: number, stopRequested: PrepareOptions["stopRequested"], fn: (text: string) => void): void {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TokenFileError(code === "ENOENT" ? `${path}: no such text file` : `${path}: cannot read the text file (${(err as Error).message})`, {
      cause: err,
    });
  }
  try {
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const buffer = Buffer.allocUnsafe(chunkBytes);
    for (let offset = 0; ; ) {
      let got: number;
      try {
        got = readSync(fd, buffer, 0, chunkBytes, offset);
      } catch (err) {
        throw new TokenFileError(`${path}: cannot read the text file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
      }
      let text: string;
      try {
        text = decoder.decode(buffer.subarray(0, got), { stream: got > 0 });
      } catch (err) {
        throw new TokenFileError(`${path}: is not valid UTF-8 text (in bytes ${offset}..${offset + got})`, { cause: err });
      }
      if (text.length > 0) fn(text);
      if (got === 0) return;
      offset += got;
      const reason = stopRequested?.() ?? null;
      if (reason !== null) throw new PrepareInterrupted(reason);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Tokenizes a UTF-8 text file of any size into a token file (see token_file.ts) with the
 * character tokenizer, in two streaming passes: the first collects the vocabulary (every
 * character of the text, as `CharTokenizer.fromText` would), the second encodes and appends.
 * Tokens are stored as uint8, uint16 or uint32, the smallest the vocabulary fits. The output
 * appears whole or not at all (temporary file, then rename), also when a stop is requested.
 *
 * @example
 * const { tokens, vocabSize, dtype } = prepareTokenFile("kjv.txt", "kjv.tokens");
 * // 4.4M tokens, 75 characters, uint8: a 4.4 MB file
 */
export function prepareTokenFile(textPath: string, outPath: string, options: PrepareOptions = {}): PrepareResult {
  const input = resolve(textPath);
  const chunkBytes = options.chunkBytes ?? 4 << 20;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 4) throw new RangeError(`prepareTokenFile: chunkBytes must be an integer ≥ 4, got ${chunkBytes}`);
  const seen = new Uint8Array(0x110000);
  forEachTextChunk(input, chunkBytes, options.stopRequested, (text) => {
    // The decoder yields whole characters (never a lone surrogate), so codePointAt reads each.
    for (let i = 0; i < text.length; i++) {
      const cp = text.codePointAt(i)!;
      seen[cp] = 1;
      if (cp > 0xffff) i++;
    }
  });
  const codePoints: number[] = [];
  seen.forEach((s, cp) => s && codePoints.push(cp));
  if (codePoints.length === 0) throw new TokenFileError(`${input}: the text is empty; there is nothing to tokenize`);
  const tokenizer = new CharTokenizer(codePoints);
  const writer = new TokenFileWriter(outPath, tokenizer);
  try {
    forEachTextChunk(input, chunkBytes, options.stopRequested, (text) => writer.append(tokenizer.encode(text)));
  } catch (err) {
    writer.abort();
    throw err;
  }
  const tokens = writer.close();
  return { tokens, vocabSize: tokenizer.vocabSize, dtype: tokenDType(tokenizer.vocabSize) };
}
