import { createHash, randomBytes } from "node:crypto";
import { closeSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";

import { cacheDir } from "./cache.js";

/** Typed arrays a decoder produced, by name: what the disk cache stores. */
export type ArrayRecord = Record<string, Float32Array | Int32Array | Uint8Array | Uint16Array>;

/** What cached arrays were made from: the source files and the decoder (or transform) that made them. */
export interface ArrayCacheKey {
  /** Files the arrays are decoded from. */
  sources: readonly string[];
  /** The decoder: a name, a version to bump whenever its output changes, and the parameters it ran with. */
  decoder: { name: string; version: number; params?: Record<string, unknown> };
}

export interface ArrayCacheOptions {
  /** The cache folder (default `cacheDir()`: $TURBINE_CACHE, else $XDG_CACHE_HOME/turbine or ~/.cache/turbine). */
  dir?: string;
  /** Where the warning about a damaged cache file goes (default: standard error). */
  warn?: (line: string) => void;
}

/**
 * Cache file layout, little-endian: "TURBCACH", u32 version, u32 byte length H of the header
 * JSON, u64 payload bytes P, 8 zero bytes, SHA-256 of everything else (bytes [0, 32), the
 * header JSON and the payload); at 64 the header JSON { key, arrays: [{ name, dtype, offset,
 * length }] }, zero padding to a multiple of 64; then the payload, each array 64-byte aligned
 * so it is read back as a view without copying.
 */
const MAGIC = Buffer.from("TURBCACH", "latin1");
const VERSION = 1;
const FIXED = 64;
const CTORS = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array, uint16: Uint16Array } as const;
type DTypeName = keyof typeof CTORS;

const align64 = (n: number): number => Math.ceil(n / 64) * 64;
const dtypeOf = (a: ArrayRecord[string]): DTypeName =>
  a instanceof Float32Array ? "float32" : a instanceof Int32Array ? "int32" : a instanceof Uint16Array ? "uint16" : "uint8";

/**
 * The identity of a source file: resolved path, size and modification time in nanoseconds.
 * Chosen over a hash of the contents because a content hash reads the whole source on every
 * load, which is most of what the cache saves (Fashion-MNIST's training images: gunzip of
 * 26 MB against a hash of the same bytes). Anything that rewrites a file changes its mtime; a
 * tool that restores an old mtime on new contents of the same size would defeat this, and
 * `turbine` never does so. A touch without a change costs one rebuild, never a wrong result.
 */
function sourceIdentity(path: string): { path: string; size: number; mtimeNs: string } {
  const full = resolve(path);
  const st = statSync(full, { bigint: true });
  return { path: full, size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
}

/** The file a key lives in: one slot per (name, source paths, decoder name), so a changed source or version overwrites its stale entry. */
function slotPath(dir: string, name: string, key: ArrayCacheKey): string {
  const slot = createHash("sha256")
    .update(JSON.stringify([key.sources.map((s) => resolve(s)), key.decoder.name]))
    .digest("hex")
    .slice(0, 16);
  return join(dir, `${name}-${slot}.bin`);
}

/** Reads a whole file into a fresh, 8-byte-aligned buffer (a pooled Buffer may start anywhere). */
function readWhole(path: string): Uint8Array | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null;
  }
  try {
    const bytes = new Uint8Array(fstatSync(fd).size);
    for (let done = 0; done < bytes.length; ) {
      const got = readSync(fd, bytes, done, bytes.length - done, done);
      if (got === 0) return bytes.subarray(0, done);
      done += got;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** The arrays of a cache file when it is whole and holds `identity`; "stale" for another key; a reason when damaged. */
function parseCacheFile(bytes: Uint8Array, identity: string): ArrayRecord | "stale" | string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (bytes.length < FIXED || !buf.subarray(0, 8).equals(MAGIC)) return `bad magic or shorter than the ${FIXED}-byte header`;
  if (buf.readUInt32LE(8) !== VERSION) return "stale";
  const headerBytes = buf.readUInt32LE(12);
  const payloadBytes = Number(buf.readBigUInt64LE(16));
  const payloadAt = align64(FIXED + headerBytes);
  if (bytes.length !== payloadAt + payloadBytes) return `truncated or padded: ${bytes.length} bytes, the header announces ${payloadAt + payloadBytes}`;
  let header: { key: unknown; arrays: { name: string; dtype: DTypeName; offset: number; length: number }[] };
  try {
    header = JSON.parse(buf.subarray(FIXED, FIXED + headerBytes).toString("utf8"));
  } catch {
    return "the header is not valid JSON";
  }
  if (JSON.stringify(header.key) !== identity) return "stale";
  const sum = createHash("sha256")
    .update(buf.subarray(0, 32))
    .update(buf.subarray(FIXED, FIXED + headerBytes))
    .update(buf.subarray(payloadAt))
    .digest();
  if (!sum.equals(buf.subarray(32, 64))) return "checksum mismatch";
  const out: ArrayRecord = {};
  for (const a of header.arrays) {
    const Ctor = CTORS[a.dtype];
    out[a.name] = new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset + payloadAt + a.offset, a.length);
  }
  return out;
}

/** Writes arrays under `identity` to a temporary file beside `path`, then renames it over `path`. */
function writeCacheFile(path: string, identity: string, arrays: ArrayRecord): void {
  let offset = 0;
  const entries = Object.entries(arrays).map(([name, a]) => {
    const entry = { name, dtype: dtypeOf(a), offset, length: a.length };
    offset = align64(offset + a.byteLength);
    return { entry, bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) };
  });
  const header = Buffer.from(`{"key":${identity},"arrays":${JSON.stringify(entries.map((e) => e.entry))}}`, "utf8");
  const fixed = Buffer.alloc(FIXED);
  MAGIC.copy(fixed, 0);
  fixed.writeUInt32LE(VERSION, 8);
  fixed.writeUInt32LE(header.length, 12);
  fixed.writeBigUInt64LE(BigInt(offset), 16);
  const pieces: Uint8Array[] = [];
  entries.forEach((e, i) => {
    pieces.push(e.bytes);
    const next = i + 1 < entries.length ? entries[i + 1]!.entry.offset : offset;
    pieces.push(new Uint8Array(next - e.entry.offset - e.bytes.length));
  });
  const hash = createHash("sha256").update(fixed.subarray(0, 32)).update(header);
  for (const p of pieces) hash.update(p);
  hash.digest().copy(fixed, 32);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const fd = openSync(tmp, "w");
    try {
      for (const p of [fixed, header, new Uint8Array(align64(FIXED + header.length) - FIXED - header.length), ...pieces]) {
        for (let done = 0; done < p.length; ) done += writeSync(fd, p, done, p.length - done);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Decoded arrays from the disk cache when a whole cache file for `key` exists, else from
 * `decode()`, stored for next time. The key is the sources' identities (path, size, mtime)
 * and the decoder's name, version and parameters: a change to a source or to the decoder
 * rebuilds the entry. A damaged cache file (truncated, padded, bad checksum or header) is
 * rebuilt with a warning, never used; a cache that cannot be written is a warning too. Writes are atomic (temporary file, then rename), so a
 * crash or a racing process leaves either the old file or a whole new one.
 *
 * @example
 * const { arrays, hit } = cachedArrays("fashion-mnist-train",
 *   { sources: [imagesPath, labelsPath], decoder: { name: "fashion-mnist/normalise", version: 1, params: { mean, std } } },
 *   () => ({ pixels: decodePixels(), labels }));
 */
export function cachedArrays(
  name: string,
  key: ArrayCacheKey,
  decode: () => ArrayRecord,
  options: ArrayCacheOptions = {},
): { arrays: ArrayRecord; hit: boolean } {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new RangeError(`cachedArrays: name ${JSON.stringify(name)} must be letters, digits, ".", "_" or "-"`);
  const dir = cacheDir(options.dir);
  const path = slotPath(dir, name, key);
  const identity = JSON.stringify({ sources: key.sources.map(sourceIdentity), decoder: key.decoder });
  const warn = options.warn ?? ((line) => process.stderr.write(`warning: ${line}\n`));
  const bytes = readWhole(path);
  if (bytes !== null) {
    const found = parseCacheFile(bytes, identity);
    if (typeof found === "object") return { arrays: found, hit: true };
    if (found !== "stale") warn(`${path}: damaged cache file (${found}); rebuilding it`);
  }
  const arrays = decode();
  try {
    mkdirSync(dir, { recursive: true });
    writeCacheFile(path, identity, arrays);
  } catch (err) {
    // A read-only or full disk costs the next run a decode, not this run its data.
    warn(`${path}: cannot write the cache file (${(err as Error).message}); continuing without the disk cache`);
  }
  return { arrays, hit: false };
}
