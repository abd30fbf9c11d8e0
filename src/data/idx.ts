import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { DataFileError } from "./data_file_error.js";

/** The contents of an IDX file of unsigned bytes: its dimensions and the row-major data. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;

/**
 * Reads a gzip-compressed IDX file of unsigned bytes with `ndim` dimensions (LeCun's MNIST
 * format: magic 0x000008nn, then nn big-endian uint32 sizes, then the bytes), checking every
 * part of it. The file must hold exactly the header and the bytes the header announces: a
 * truncated or padded file is an error, never a silently shorter dataset. Every error starts
 * with the file's path. The data is a view of the decompressed buffer, not a copy.
 *
 * @example
 * const { dims, data } = readIdxGz("t10k-labels-idx1-ubyte.gz", 1); // dims [10000]
 */
export function readIdxGz(path: string, ndim: number): IdxArray {
  let compressed: Buffer;
  try {
    compressed = readFileSync(path);
  } catch (err) {
    throw new DataFileError(`${path}: cannot read the file (${(err as Error).message})`, { cause: err });
  }
  let bytes: Buffer;
  try {
    bytes = gunzipSync(compressed);
  } catch (err) {
    throw new DataFileError(`${path}: not a valid gzip file (${(err as Error).message})`, { cause: err });
  }
  const headerBytes = 4 + 4 * ndim;
  const expectedMagic = (UBYTE << 8) | ndim;
  if (bytes.length < headerBytes) {
    throw new DataFileError(`${path}: ${bytes.length} bytes after decompression is shorter than the ${headerBytes}-byte IDX header`);
  }
  const magic = bytes.readUInt32BE(0);
  if (magic !== expectedMagic) {
    throw new DataFileError(
      `${path}: bad magic number ${hex(magic)}, expected ${hex(expectedMagic)} (IDX unsigned bytes, ${ndim} dimension${ndim === 1 ? "" : "s"})`,
    );
  }
  const dims: number[] = [];
  let size = 1;
  for (let d = 0; d < ndim; d++) {
    dims.push(bytes.readUInt32BE(4 + 4 * d));
    size *= dims[d]!;
  }
  if (bytes.length !== headerBytes + size) {
    throw new DataFileError(
      `${path}: expected ${headerBytes + size} bytes after decompression (header ${headerBytes} + ${dims.join("×")} data), got ${bytes.length}`,
    );
  }
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, size) };
}
