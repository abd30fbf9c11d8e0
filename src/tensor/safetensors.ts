import { readFileSync, writeFileSync } from "node:fs";

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
const FROM_CODE: Record<string, DType> = { F32: "float32", BF16: "bfloat16", F16: "float16", I32: "int32" };

export interface Safetensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Encodes tensors and string metadata as safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
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
 * Decodes safetensors bytes into tensors (copied into pooled memory). F64 and I64 entries,
 * which PyTorch may write, become float32 and int32 (I64 values must fit). `source` names the
 * file in errors.
 */
export function decodeSafetensors(bytes: Uint8Array, source = "safetensors data", category: MemoryCategory = "other"): Safetensors {
  const fail = (what: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${what}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8 || headerLength > 100 * 1024 * 1024) fail(`header length ${headerLength} exceeds the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLength).toString("utf8"));
  } catch (error) {
    return fail(`header is not JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) fail("header is not a JSON object");
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: Record<string, Tensor> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (entry === null || typeof entry !== "object") fail("__metadata__ is not an object");
      for (const [k, v] of Object.entries(entry as object)) {
        if (typeof v !== "string") fail(`metadata '${k}' is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor '${name}' has an invalid shape`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      fail(`tensor '${name}' has invalid data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLength) fail(`tensor '${name}' spans bytes ${begin}..${end} of a ${dataLength}-byte data section`);
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    const code = String(e.dtype);
    const itemBytes = code === "F64" || code === "I64" ? 8 : FROM_CODE[code] ? DTYPES[FROM_CODE[code]!].bytes : fail(`tensor '${name}' has unsupported dtype ${code}`);
    if (end - begin !== size * itemBytes) fail(`tensor '${name}' has ${end - begin} bytes for shape [${shape}] of ${code}`);
    ranges.push([begin, end, name]);
    tensors[name] = readTensor(bytes.subarray(dataStart + begin, dataStart + end), code, shape as number[], category, name, fail);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]![0] < ranges[i - 1]![1]) fail(`tensors '${ranges[i - 1]![2]}' and '${ranges[i]![2]}' overlap`);
  }
  return { tensors, metadata };
}

function readTensor(
  raw: Uint8Array,
  code: string,
  shape: number[],
  category: MemoryCategory,
  name: string,
  fail: (what: string) => never,
): Tensor {
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
  const dtype = FROM_CODE[code]!;
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
