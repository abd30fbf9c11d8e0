import { readFileSync, writeFileSync } from "node:fs";

import { duplicateJsonKey } from "./json_duplicate_key.js";
import { DTYPES, type DType } from "./dtype.js";
import type { MemoryCategory } from "./memory.js";
import { Tensor } from "./tensor.js";

/**
 * The safetensors format (what PyTorch and Hugging Face read): an 8-byte little-endian header
 * length, a JSON header of { name: { dtype, shape, data_offsets } } plus optional string
 * metadata, then the raw little-endian bytes. Reading validates everything before copying and
 * never executes anything.
 *
 * @example
 * saveSafetensors("model.safetensors", { "fc.weight": w });
 * const { tensors } = loadSafetensors("model.safetensors");
 */

const CODES: Record<DType, string> = { float32: "F32", bfloat16: "BF16", float16: "F16", int32: "I32" };
// A Map, so a dtype code read from a file ("constructor") never finds an inherited property.
const FROM_CODE = new Map<string, DType>([
  ["F32", "float32"],
  ["BF16", "bfloat16"],
  ["F16", "float16"],
  ["I32", "int32"],
]);

export interface Safetensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Encodes tensors and string metadata as safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = Object.create(null); // a tensor may be named __proto__
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name]!;
    const bytes = t.size * DTYPES[t.dtype].bytes;
    header[name] = { dtype: CODES[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const padded = Math.ceil(json.length / 8) * 8;
  json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const data = tensors[name]!.data;
    const src = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    src.copy(out, at);
    at += src.length;
  }
  return out;
}

/** Writes a safetensors file. */
export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}

/**
 * Decodes safetensors bytes into tensors (copied into pooled memory), following the format's
 * specification: the header is UTF-8 JSON that begins with `{` (trailing spaces allowed), every
 * entry but `__metadata__` (a string-to-string map) is `{ dtype, shape, data_offsets }`, and
 * the tensors' byte ranges, taken in offset order whatever the header's order, tile the data
 * section exactly: no overlap, no hole, nothing after the last (a zero-size tensor may sit at any
 * tensor's offset). F64 and I64 entries, which PyTorch may write, become float32 and int32 (I64
 * values must fit). The results are null-prototype records, so no tensor name (`__proto__`,
 * `constructor`) can reach an object's prototype. `source` names the file in errors, which all
 * read "<source>: not a valid safetensors file: <what>".
 *
 * @example
 * const { tensors, metadata } = decodeSafetensors(readFileSync("model.safetensors"), "model.safetensors");
 */
export function decodeSafetensors(bytes: Uint8Array, source = "safetensors data", category: MemoryCategory = "other"): Safetensors {
  const fail = (what: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${what}`);
  };
  const { entries, metadata, dataStart } = parseHeader(bytes, fail);
  const dataLength = bytes.length - dataStart;
  const ranges = entries.map((e) => ({ ...e, ...checkEntry(e.name, e.entry, dataLength, fail) }));
  // In offset order (then end, so a zero-size tensor comes before the tensor it shares a start with).
  const ordered = [...ranges].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const r of ordered) {
    if (r.begin < covered) fail(`tensor '${r.name}' at bytes ${r.begin}..${r.end} overlaps the tensor before it (which ends at ${covered})`);
    if (r.begin > covered) fail(`bytes ${covered}..${r.begin} of the data section belong to no tensor`);
    covered = r.end;
  }
  if (covered !== dataLength) fail(`bytes ${covered}..${dataLength} of the data section belong to no tensor`);
  const tensors: Record<string, Tensor> = Object.create(null);
  for (const r of ranges) tensors[r.name] = readTensor(bytes.subarray(dataStart + r.begin, dataStart + r.end), r.code, r.shape, category, r.name, fail);
  return { tensors, metadata };
}

/** The header's tensor entries in header order, its metadata and where the data section starts. */
function parseHeader(
  bytes: Uint8Array,
  fail: (what: string) => never,
): { entries: { name: string; entry: unknown }[]; metadata: Record<string, string>; dataStart: number } {
  if (bytes.length < 8) fail(`${bytes.length} bytes is shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8 || headerLength > 100 * 1024 * 1024) fail(`header length ${headerLength} exceeds the file`);
  const raw = bytes.subarray(8, 8 + headerLength);
  if (raw[0] !== 0x7b) fail("header does not begin with '{'");
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    fail("header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    fail(`header is not JSON (${(error as Error).message})`);
  }
  // JSON.parse would keep the last of two equal keys: a header must mean one thing.
  const duplicate = duplicateJsonKey(text);
  if (duplicate !== null) fail(`header has the key ${JSON.stringify(duplicate)} twice in one object`);
  if (!isRecord(header)) return fail("header is not a JSON object");
  const metadata: Record<string, string> = Object.create(null);
  const entries: { name: string; entry: unknown }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name !== "__metadata__") {
      entries.push({ name, entry });
      continue;
    }
    if (!isRecord(entry)) fail("__metadata__ is not an object of strings");
    for (const [k, v] of Object.entries(entry as object)) {
      if (typeof v !== "string") fail(`metadata '${k}' is not a string`);
      metadata[k] = v as string;
    }
  }
  return { entries, metadata, dataStart: 8 + headerLength };
}

/** One tensor entry's dtype code, shape and byte range, checked against each other and the data section. */
function checkEntry(
  name: string,
  entry: unknown,
  dataLength: number,
  fail: (what: string) => never,
): { code: string; shape: number[]; begin: number; end: number } {
  if (!isRecord(entry)) return fail(`tensor '${name}' is ${JSON.stringify(entry)}, not an object of dtype, shape and data_offsets`);
  const { shape, data_offsets: offsets, dtype } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return fail(`tensor '${name}' has an invalid shape`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    return fail(`tensor '${name}' has invalid data_offsets`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataLength) fail(`tensor '${name}' spans bytes ${begin}..${end} of a ${dataLength}-byte data section`);
  const code = String(dtype);
  const itemBytes =
    code === "F64" || code === "I64" ? 8 : FROM_CODE.has(code) ? DTYPES[FROM_CODE.get(code)!].bytes : fail(`tensor '${name}' has unsupported dtype ${code}`);
  const size = (shape as number[]).reduce((a, b) => a * b, 1);
  if (end - begin !== size * itemBytes) fail(`tensor '${name}' has ${end - begin} bytes for shape [${shape}] of ${code}`);
  return { code, shape: shape as number[], begin, end };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function readTensor(raw: Uint8Array, code: string, shape: number[], category: MemoryCategory, name: string, fail: (what: string) => never): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (code === "F64" || code === "I64") {
    const dtype: DType = code === "F64" ? "float32" : "int32";
    const t = Tensor.empty(shape, dtype, category);
    const aligned = new Uint8Array(raw).buffer; // offsets in the file need not be 8-aligned
    const src = code === "F64" ? new Float64Array(aligned, 0, size) : new BigInt64Array(aligned, 0, size);
    const dst = t.data;
    for (let i = 0; i < size; i++) {
      const v = src[i]!;
      if (typeof v === "bigint" && (v > 2147483647n || v < -2147483648n)) fail(`tensor '${name}' holds ${v}, beyond int32`);
      dst[i] = Number(v);
    }
    return t;
  }
  const dtype = FROM_CODE.get(code)!;
  const t = Tensor.empty(shape, dtype, category);
  new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).set(raw);
  return t;
}

/** Reads and decodes a safetensors file. */
export function loadSafetensors(path: string, category: MemoryCategory = "other"): Safetensors {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new Error(`${path}: cannot read safetensors file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return decodeSafetensors(bytes, path, category);
}
