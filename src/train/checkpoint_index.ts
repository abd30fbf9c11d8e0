import { join } from "node:path";

import { assembleRange, elementCount, type PieceSource, type StateReader, type StateSection, type TensorInfo } from "../parallel/state.js";
import { checkDType, type DType } from "../tensor/dtype.js";
import { decodeSafetensors } from "../tensor/safetensors.js";
import type { Tensor } from "../tensor/tensor.js";
import { type Fail, MANIFEST, readListed } from "./checkpoint_files.js";

/**
 * index.json of a sharded (version 2) checkpoint: which file holds which element range of which
 * tensor, and the world size and layout that wrote it. Rank 0 writes it from the ranks'
 * reports once every rank's files are written, after checking that the pieces of every tensor
 * tile it exactly; loading checks it again and assembles any range from the files, each file
 * read (and its SHA-256 checked against the manifest) when a range first needs it.
 */

export const INDEX = "index.json";

/** Where one piece of a tensor is: a file (the tensor's name is its key there) and its range. */
export interface IndexPiece {
  file: string;
  start: number;
  length: number;
}

export interface IndexEntry {
  shape: number[];
  dtype: DType;
  pieces: IndexPiece[];
}

export interface CheckpointIndex {
  version: 2;
  /** Ranks that wrote the checkpoint. */
  worldSize: number;
  /** The writing strategy's layout ("single", "ddp", "zero-3"). */
  layout: string;
  model: Record<string, IndexEntry>;
  optimizer: Record<string, IndexEntry>;
}

/** The safetensors file of a rank's pieces of one section. */
export const pieceFile = (section: StateSection, rank: number): string => `${section}-rank${String(rank).padStart(5, "0")}.safetensors`;

/**
 * Checks that every tensor's pieces tile it exactly (no gap, no overlap); the first that does
 * not is named with the element where it goes wrong.
 */
export function checkTiling(index: Pick<CheckpointIndex, StateSection>, fail: Fail): void {
  for (const section of ["model", "optimizer"] as const) {
    for (const [name, entry] of Object.entries(index[section])) {
      const total = elementCount(entry.shape);
      let next = 0;
      for (const piece of [...entry.pieces].sort((a, b) => a.start - b.start)) {
        if (piece.start !== next) {
          fail(
            `${section} tensor '${name}': ${piece.start > next ? `elements ${next}..${piece.start} are in no piece` : `element ${piece.start} is in two pieces`}`,
          );
        }
        next = piece.start + piece.length;
      }
      if (next !== total) fail(`${section} tensor '${name}' [${entry.shape.join(", ")}]: its pieces end at element ${next} of ${total}`);
    }
  }
}

/** index.json's value checked field by field (a wrong one is named). */
export function parseIndex(value: unknown, fail: Fail): CheckpointIndex {
  const v = value as Partial<CheckpointIndex> | null;
  if (v === null || typeof v !== "object" || v.version !== 2) fail(`${INDEX} is not a version 2 index`);
  if (!Number.isSafeInteger(v!.worldSize) || v!.worldSize! < 1) fail(`${INDEX}: worldSize ${JSON.stringify(v!.worldSize)} is not a positive integer`);
  for (const section of ["model", "optimizer"] as const) {
    const entries = v![section];
    if (entries === null || typeof entries !== "object" || Array.isArray(entries)) fail(`${INDEX}: '${section}' is not a map of tensors`);
    for (const [name, entry] of Object.entries(entries!)) {
      const ok =
        Array.isArray(entry?.shape) &&
        entry.shape.every((d) => Number.isSafeInteger(d) && d >= 0) &&
        Array.isArray(entry.pieces) &&
        entry.pieces.every(
          (p) => typeof p?.file === "string" && Number.isSafeInteger(p.start) && p.start >= 0 && Number.isSafeInteger(p.length) && p.length >= 0,
        );
      if (!ok) fail(`${INDEX}: ${section} tensor '${name}' has no valid shape and pieces`);
      try {
        checkDType(entry.dtype, `${INDEX}: ${section} tensor '${name}'`);
      } catch (error) {
        fail((error as Error).message);
      }
    }
  }
  checkTiling(v as CheckpointIndex, fail);
  return v as CheckpointIndex;
}

/**
 * A StateReader over a verified checkpoint's files, and `close` to free the files it decoded.
 * A file is decoded on the first read that needs it, checked against the manifest again (the
 * bytes read are the bytes verified) and kept until close.
 */
export function fileReader(
  dir: string,
  listed: Map<string, string>,
  index: CheckpointIndex,
  optimizer: Pick<StateReader, "steps" | "paramGroups">,
  fail: Fail,
): { reader: StateReader; close: () => void } {
  const decoded = new Map<string, Record<string, Tensor>>();
  const open = (file: string): Record<string, Tensor> => {
    let tensors = decoded.get(file);
    if (tensors) return tensors;
    const { bytes, intact } = readListed(dir, listed, file, fail);
    if (!intact) fail(`${file} fails its checksum in ${MANIFEST} (it was edited or is corrupt)`);
    try {
      tensors = decodeSafetensors(bytes, join(dir, file)).tensors;
    } catch (error) {
      return fail((error as Error).message);
    }
    decoded.set(file, tensors);
    return tensors;
  };
  const tensors = { model: new Map<string, TensorInfo>(), optimizer: new Map<string, TensorInfo>() };
  const sources = { model: new Map<string, PieceSource[]>(), optimizer: new Map<string, PieceSource[]>() };
  for (const section of ["model", "optimizer"] as const) {
    for (const [name, entry] of Object.entries(index[section])) {
      tensors[section].set(name, { shape: entry.shape, dtype: entry.dtype });
      sources[section].set(
        name,
        entry.pieces.map((piece) => ({
          start: piece.start,
          length: piece.length,
          elements: () => {
            const t = open(piece.file)[name];
            if (!t || t.dtype !== entry.dtype || t.size !== piece.length) {
              fail(`${piece.file} does not hold ${section} tensor '${name}' as ${INDEX} says (${piece.length} elements of ${entry.dtype})`);
            }
            return t!.data;
          },
        })),
      );
    }
  }
  const reader: StateReader = {
    tensors,
    ...optimizer,
    read(section, name, start, length) {
      const info = tensors[section].get(name);
      if (!info) throw new RangeError(`checkpoint ${dir} has no ${section} tensor '${name}'`);
      return assembleRange(name, info, sources[section].get(name)!, start, length);
    },
  };
  const close = () => {
    for (const file of decoded.values()) for (const t of Object.values(file)) t.dispose();
    decoded.clear();
  };
  return { reader, close };
}
