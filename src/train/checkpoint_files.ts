import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import type { SavedParamGroup } from "../parallel/state.js";

/**
 * What both checkpoint versions share on disk: manifest.json, the SHA-256 of every other file
 * of the checkpoint, so any edited or corrupt byte (a tensor, a safetensors header, meta.json,
 * the index) is refused naming its file.
 */

export class CheckpointError extends Error {}

/** The version this code writes: 2, sharded (1, everything whole in two files, still loads). */
export const CHECKPOINT_VERSION = 2;

/** meta.json: the step and everything else a run needs to resume besides the tensors. */
export interface CheckpointMeta {
  version: number;
  step: number;
  epoch: number;
  /** Scheduler, random generator and data loader positions: plain JSON values. */
  scheduler?: unknown;
  rng?: unknown;
  data?: unknown;
  /** The loss scaler's scale, growth tracker and settings (float16 runs). */
  gradScaler?: unknown;
  /** The pruning masks of a run with `prune` (PrunerState). */
  prune?: unknown;
  config?: unknown;
  /** The optimizer's groups (parameters by name; by index in version 1) and per-parameter step counts. */
  optimizer?: { paramGroups: SavedParamGroup[]; steps: Record<string, number> };
  /** Version 1 only: file → tensor name → SHA-256 of its bytes. */
  checksums?: Record<string, Record<string, string>>;
}

/** The file that lists every other file of a checkpoint with its SHA-256. */
export const MANIFEST = "manifest.json";

export const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** Throws a CheckpointError about a checkpoint directory. */
export type Fail = (what: string) => never;

/** A fail function whose messages begin with `checkpoint <dir>: `. */
export function failIn(dir: string): Fail {
  return (what: string): never => {
    throw new CheckpointError(`checkpoint ${dir}: ${what}`);
  };
}

/** manifest.json's file → SHA-256 map. */
export function readManifest(dir: string, fail: Fail): Map<string, string> {
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST), "utf8"));
  } catch (error) {
    return fail(`${MANIFEST} is missing or not JSON (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const files = (manifest as { sha256?: unknown } | null)?.sha256;
  if (files === null || typeof files !== "object" || Array.isArray(files) || !Object.values(files).every((h) => typeof h === "string")) {
    fail(`${MANIFEST} has no sha256 map of file names to checksums`);
  }
  return new Map(Object.entries(files as Record<string, string>));
}

/**
 * Reads one file the manifest lists: its bytes and whether they are the bytes listed (a file
 * the manifest does not list, or that cannot be read, is refused).
 */
export function readListed(dir: string, listed: Map<string, string>, name: string, fail: Fail): { bytes: Buffer; intact: boolean } {
  if (!listed.has(name)) fail(`${MANIFEST} does not list ${name}`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(dir, name));
  } catch (error) {
    return fail(`${name} is missing (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return { bytes, intact: sha256(bytes) === listed.get(name) };
}

/** A listed JSON file, verified whole: its parsed value. */
export function readListedJson(dir: string, listed: Map<string, string>, name: string, fail: Fail): unknown {
  const { bytes, intact } = readListed(dir, listed, name, fail);
  if (!intact) fail(`${name} fails its checksum in ${MANIFEST} (it was edited or is corrupt)`);
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    return fail(`${name} is not JSON (${(error as Error).message})`);
  }
}
