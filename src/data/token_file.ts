import { createHash, randomBytes } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { endianness } from "node:os";
import { resolve } from "node:path";

import { CharTokenizer } from "./tokenizer.js";

/**
 * The token file: a corpus tokenized once (`turbine data prepare`) and read in windows, so a
 * corpus larger than memory trains with flat memory. Layout, little-endian:
 *
 *   0   8 bytes  magic "TURBTOKN"
 *   8   u32      format version (1)
 *   12  u32      bytes per token: 1 (uint8), 2 (uint16) or 4 (uint32), the smallest the vocabulary fits
 *   16  u64      token count
 *   24  u32      byte length V of the vocabulary JSON
 *   28  u32      0 (reserved)
 *   32  32 bytes SHA-256 of bytes [0, 32) and the vocabulary JSON: the header's checksum
 *   64  V bytes  the vocabulary, the character tokenizer's JSON ({"type":"char","codePoints":[...]})
 *   then zero padding to a multiple of 8, then the tokens
 *
 * The tokens carry no checksum (hashing a corpus larger than memory at every start would cost
 * a full read); their length is checked exactly, and every window read checks its ids against
 * the vocabulary, so a truncated or padded file is refused and a damaged id is never trained on.
 */

const MAGIC = Buffer.from("TURBTOKN", "latin1");
const VERSION = 1;
const FIXED_BYTES = 64;
const CHECKSUM_AT = 32;

export type TokenDType = "uint8" | "uint16" | "uint32";
const DTYPES: Record<number, TokenDType> = { 1: "uint8", 2: "uint16", 4: "uint32" };

/** Tokens are packed and read through typed arrays, in the host's byte order, which must be the file's. */
function checkByteOrder(path: string): void {
  if (endianness() !== "LE") throw new TokenFileError(`${path}: token files are little-endian and this machine is not`);
}

/** A token file that cannot be used: bad magic, a corrupt header, a truncated body, an id outside the vocabulary. */
export class TokenFileError extends Error {}

/**
 * Bytes per token for a vocabulary: 1 up to 256 ids, 2 up to 65536, else 4.
 * @example bytesPerToken(65) // 1
 */
export function bytesPerToken(vocabSize: number): 1 | 2 | 4 {
  return vocabSize <= 0x100 ? 1 : vocabSize <= 0x10000 ? 2 : 4;
}

/**
 * The token dtype of a vocabulary.
 * @example tokenDType(70000) // "uint32"
 */
export function tokenDType(vocabSize: number): TokenDType {
  return DTYPES[bytesPerToken(vocabSize)]!;
}

const alignUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** The whole header (fixed part, vocabulary, padding) for `count` tokens, checksum filled in. */
function encodeHeader(tokenizer: CharTokenizer, count: number): Buffer {
  const vocab = Buffer.from(JSON.stringify(tokenizer.toJSON()), "utf8");
  const header = Buffer.alloc(alignUp(FIXED_BYTES + vocab.length, 8));
  MAGIC.copy(header, 0);
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(bytesPerToken(tokenizer.vocabSize), 12);
  header.writeBigUInt64LE(BigInt(count), 16);
  header.writeUInt32LE(vocab.length, 24);
  vocab.copy(header, FIXED_BYTES);
  createHash("sha256").update(header.subarray(0, CHECKSUM_AT)).update(vocab).digest().copy(header, CHECKSUM_AT);
  return header;
}

/** Packs int32 ids (already checked to fit) into the file's little-endian uint8/16/32 encoding. */
function packTokens(ids: Int32Array, bytes: 1 | 2 | 4): Uint8Array {
  const packed = bytes === 1 ? new Uint8Array(ids) : bytes === 2 ? new Uint16Array(ids) : new Uint32Array(ids);
  return new Uint8Array(packed.buffer, 0, packed.byteLength);
}

/**
 * Writes a token file incrementally: `append` chunks of ids, then `close` fixes the count and
 * checksum in the header and renames the temporary file beside `path` over it, so a reader
 * never sees a half-written file. `abort` removes the temporary file.
 *
 * @example
 * const w = new TokenFileWriter("corpus.tokens", tokenizer);
 * w.append(tokenizer.encode(text));
 * w.close(); // the token count
 */
export class TokenFileWriter {
  readonly path: string;
  private readonly tmp: string;
  /** null once closed: closed twice, the number could by then be another thread's file (a rank of turbine launch). */
  private fd: number | null;
  private readonly bytes: 1 | 2 | 4;
  private count = 0;
  private position: number;

  constructor(
    path: string,
    readonly tokenizer: CharTokenizer,
  ) {
    this.path = resolve(path);
    checkByteOrder(this.path);
    this.tmp = `${this.path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      this.fd = openSync(this.tmp, "wx");
    } catch (err) {
      throw new TokenFileError(`${this.path}: cannot write the token file (${(err as Error).message})`, { cause: err });
    }
    this.bytes = bytesPerToken(tokenizer.vocabSize);
    this.position = encodeHeader(tokenizer, 0).length;
  }

  /** Appends ids (each in [0, vocabSize)). */
  append(ids: Int32Array): void {
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i]! >= 0 && ids[i]! < this.tokenizer.vocabSize)) {
        throw new RangeError(`TokenFileWriter: id ${ids[i]} at token ${this.count + i} is outside the vocabulary [0, ${this.tokenizer.vocabSize})`);
      }
    }
    const packed = packTokens(ids, this.bytes);
    this.write(packed, this.position);
    this.position += packed.length;
    this.count += ids.length;
  }

  /** Writes the header, closes and renames into place; returns the token count. */
  close(): number {
    try {
      this.write(encodeHeader(this.tokenizer, this.count), 0);
      this.closeFile();
      renameSync(this.tmp, this.path);
    } catch (err) {
      this.abort();
      throw err instanceof TokenFileError ? err : new TokenFileError(`${this.path}: cannot write the token file (${(err as Error).message})`, { cause: err });
    }
    return this.count;
  }

  /** Gives up: closes (unless close() did) and removes the temporary file. */
  abort(): void {
    try {
      this.closeFile();
    } finally {
      rmSync(this.tmp, { force: true });
    }
  }

  /** Closes the temporary file once. */
  private closeFile(): void {
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) closeSync(fd);
  }

  private write(bytes: Uint8Array, at: number): void {
    const fd = this.fd;
    if (fd === null) throw new TokenFileError(`${this.path}: the token file writer is closed`);
    try {
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
    } catch (err) {
      throw new TokenFileError(`${this.path}: cannot write the token file (${(err as Error).message})`, { cause: err });
    }
  }
}

/**
 * An open token file, its header checked: reads runs of tokens at any offset with one
 * positioned read each (fs.readSync), so nothing but the caller's buffer is held in memory.
 * Every error names the file and what is wrong with it.
 *
 * @example
 * const file = TokenFile.open("corpus.tokens");
 * file.count;                           // tokens in the file
 * const ids = new Int32Array(129);
 * file.read(1000, ids, Buffer.alloc(129 * file.bytesPerToken));
 * file.close();
 */
export class TokenFile {
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    readonly tokenizer: CharTokenizer,
    readonly dtype: TokenDType,
    readonly bytesPerToken: 1 | 2 | 4,
    readonly count: number,
    private readonly dataOffset: number,
  ) {
    this.fd = fd;
  }

  /** Opens and validates `path`: magic, version, header checksum, vocabulary and the exact length of the tokens. */
  static open(path: string): TokenFile {
    const full = resolve(path);
    checkByteOrder(full);
    let fd: number;
    try {
      fd = openSync(full, "r");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new TokenFileError(code === "ENOENT" ? `${full}: no such token file` : `${full}: cannot read the token file (${(err as Error).message})`, {
        cause: err,
      });
    }
    try {
      return TokenFile.parse(full, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private static parse(path: string, fd: number): TokenFile {
    const fail = (what: string): never => {
      throw new TokenFileError(`${path}: ${what}`);
    };
    const size = fstatSync(fd).size;
    const fixed = Buffer.alloc(FIXED_BYTES);
    let got = 0;
    try {
      got = readSync(fd, fixed, 0, FIXED_BYTES, 0);
    } catch (err) {
      fail(`cannot read the token file (${(err as Error).message})`);
    }
    if (got < MAGIC.length || !fixed.subarray(0, MAGIC.length).equals(MAGIC)) {
      fail(
        `bad magic ${JSON.stringify(fixed.subarray(0, Math.min(got, MAGIC.length)).toString("latin1"))}, expected "TURBTOKN": not a token file (make one with \`turbine data prepare\`)`,
      );
    }
    if (got < FIXED_BYTES) fail(`truncated: ${size} bytes is shorter than the ${FIXED_BYTES}-byte header`);
    const version = fixed.readUInt32LE(8);
    if (version !== VERSION) fail(`format version ${version} is not supported (this turbine reads version ${VERSION})`);
    const vocabBytes = fixed.readUInt32LE(24);
    if (FIXED_BYTES + vocabBytes > size) fail(`truncated: the header announces a ${vocabBytes}-byte vocabulary, but the file holds ${size} bytes`);
    const vocab = Buffer.alloc(vocabBytes);
    readSync(fd, vocab, 0, vocabBytes, FIXED_BYTES);
    const checksum = createHash("sha256").update(fixed.subarray(0, CHECKSUM_AT)).update(vocab).digest();
    if (!checksum.equals(fixed.subarray(CHECKSUM_AT, FIXED_BYTES)))
      fail("header checksum mismatch: the header or vocabulary is corrupt; prepare the file again");
    const bytes = fixed.readUInt32LE(12);
    const dtype = DTYPES[bytes] ?? fail(`bytes per token ${bytes} is not 1, 2 or 4`);
    let tokenizer: CharTokenizer;
    try {
      tokenizer = CharTokenizer.fromJSON(JSON.parse(vocab.toString("utf8")));
    } catch (err) {
      return fail(`bad vocabulary (${(err as Error).message})`);
    }
    if (bytesPerToken(tokenizer.vocabSize) > bytes) fail(`a vocabulary of ${tokenizer.vocabSize} does not fit ${dtype} tokens`);
    const count = Number(fixed.readBigUInt64LE(16));
    const dataOffset = alignUp(FIXED_BYTES + vocabBytes, 8);
    const expected = dataOffset + count * bytes;
    if (size < expected) fail(`truncated: the header announces ${count} ${dtype} tokens (${expected} bytes in all), but the file holds ${size} bytes`);
    if (size > expected) fail(`${size - expected} unexpected bytes after the ${count} tokens the header announces`);
    return new TokenFile(path, fd, tokenizer, dtype, bytes as 1 | 2 | 4, count, dataOffset);
  }

  /**
   * Reads tokens [start, start + into.length) into `into`, through `scratch` (at least
   * into.length × bytesPerToken bytes, reused by the caller); an id outside the vocabulary is
   * an error naming its offset.
   */
  read(start: number, into: Int32Array, scratch: Buffer): void {
    if (this.fd === null) throw new TokenFileError(`${this.path}: the token file is closed`);
    const n = into.length,
      bytes = this.bytesPerToken;
    if (!(Number.isSafeInteger(start) && start >= 0 && start + n <= this.count)) {
      throw new RangeError(`TokenFile: tokens [${start}, ${start + n}) are outside the ${this.count} tokens of ${this.path}`);
    }
    if (scratch.length < n * bytes || scratch.byteOffset % bytes !== 0) {
      throw new RangeError(
        `TokenFile: the scratch buffer (${scratch.length} bytes at offset ${scratch.byteOffset}) cannot hold ${n} aligned ${this.dtype} tokens`,
      );
    }
    const got = readSync(this.fd, scratch, 0, n * bytes, this.dataOffset + start * bytes);
    if (got !== n * bytes) throw new TokenFileError(`${this.path}: read ${got} of ${n * bytes} bytes at token ${start}; the file shrank`);
    const Ctor = bytes === 1 ? Uint8Array : bytes === 2 ? Uint16Array : Uint32Array;
    into.set(new Ctor(scratch.buffer as ArrayBuffer, scratch.byteOffset, n));
    const vocab = this.tokenizer.vocabSize;
    for (let i = 0; i < n; i++) {
      if (into[i]! >= vocab)
        throw new TokenFileError(`${this.path}: token ${start + i} has id ${into[i]}, outside the vocabulary of ${vocab}; the file is corrupt`);
    }
  }

  /** Closes the file; reads after this are errors. */
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
