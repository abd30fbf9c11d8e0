import { existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";

import type { StateReader } from "../parallel/state.js";
import { formatShape } from "../tensor/shape.js";
import type { DType } from "../tensor/dtype.js";
import { type CheckpointMeta, CheckpointError, failIn, readListed, readListedJson, readManifest } from "./checkpoint_files.js";
import { fileReader, INDEX, parseIndex } from "./checkpoint_index.js";
import { readV1 } from "./checkpoint_v1.js";
import { configDifferences } from "./resume_config.js";

/**
 * Checkpoints: a directory holding each rank's pieces of the model and optimizer state
 * (`model-rankN.safetensors`, `optimizer-rankN.safetensors`), index.json (which file holds which
 * element range of which tensor, and the world size and layout that wrote them), meta.json (the
 * step, schedule, random and data positions, the config, the optimizer's groups and step
 * counts) and manifest.json (a SHA-256 of every other file, so any edited byte is refused). It
 * is written into a temporary sibling and renamed into place once every rank's part is there
 * (checkpoint_write.ts), so a crash never leaves a partial checkpoint under the real name.
 * Loading verifies every checksum, never runs code, and gives a StateReader that any strategy
 * of any world size reads its own cut from. Version 1 checkpoints (whole tensors in
 * model.safetensors and optimizer.safetensors) still load.
 */

export { CHECKPOINT_VERSION, CheckpointError, type CheckpointMeta } from "./checkpoint_files.js";
export { saveCheckpoint, type CheckpointContent } from "./checkpoint_write.js";

export interface LoadedCheckpoint {
  dir: string;
  meta: CheckpointMeta;
  /** The model and optimizer state in any cut (Strategy.loadStateDict reads it). */
  reader: StateReader;
  /** The world size and layout that wrote it (version 1: 1 and "single"). */
  writtenBy: { worldSize: number; layout: string };
  /** Frees the tensors read from the files (call once the state is loaded). */
  close(): void;
}

/**
 * Reads and verifies one checkpoint: every file's SHA-256 against the manifest (a missing,
 * corrupt or edited file is a CheckpointError naming it). The tensors are read when the reader
 * is asked for them.
 * @example const ckpt = loadCheckpoint("runs/gpt/version_0/checkpoints/step-00000500");
 */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const fail = failIn(dir);
  const listed = readManifest(dir, fail);
  const meta = readListedJson(dir, listed, "meta.json", fail) as CheckpointMeta;
  if (meta === null || typeof meta !== "object") fail("meta.json is not an object");
  if (!Number.isSafeInteger(meta.step) || meta.step < 0) fail(`meta.json: step must be a whole number ≥ 0, got ${JSON.stringify(meta.step)}`);
  if (meta.version === 1) {
    const { reader, close } = readV1(dir, listed, meta, fail);
    return { dir, meta, reader, writtenBy: { worldSize: 1, layout: "single" }, close };
  }
  if (meta.version !== 2) fail(`version ${meta.version}, expected 1 or 2`);
  const index = parseIndex(readListedJson(dir, listed, INDEX, fail), fail);
  const pieceFiles = new Set(["model", "optimizer"].flatMap((s) => Object.values(index[s as "model"]).flatMap((e) => e.pieces.map((p) => p.file))));
  for (const file of pieceFiles) {
    if (!readListed(dir, listed, file, fail).intact) fail(`${file} fails its checksum in manifest.json (it was edited or is corrupt)`);
  }
  const optimizer = { steps: meta.optimizer?.steps ?? {}, paramGroups: meta.optimizer?.paramGroups ?? [] };
  const { reader, close } = fileReader(dir, listed, index, optimizer, fail);
  return { dir, meta, reader, writtenBy: { worldSize: index.worldSize, layout: index.layout }, close };
}

/** Checkpoint directories under a run's checkpoint folder, newest step first. */
export function listCheckpoints(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => /^step-\d+$/.test(n))
    .sort((a, b) => Number(b.slice(5)) - Number(a.slice(5)))
    .map((n) => join(root, n));
}

/** The directory name of the checkpoint of a step (zero-padded so names sort by step). */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, "0")}`;
}

/**
 * Loads the newest checkpoint that verifies, from a run folder, its checkpoint folder or
 * starting at one checkpoint directory; each refused one is reported through `warn` with the
 * reason and the previous one is tried.
 *
 * @example
 * const ckpt = loadLatestCheckpoint("runs/cnn/version_0", console.warn);
 */
export function loadLatestCheckpoint(path: string, warn: (message: string) => void): LoadedCheckpoint {
  const single = existsSync(join(path, "meta.json"));
  const root = single ? dirname(path) : existsSync(join(path, "checkpoints")) ? join(path, "checkpoints") : path;
  let candidates = listCheckpoints(root);
  if (single) {
    const at = candidates.indexOf(path);
    candidates = at >= 0 ? candidates.slice(at) : [path];
  }
  if (candidates.length === 0) throw new CheckpointError(`no checkpoint in ${path} (expected step-N directories or a meta.json)`);
  const reasons: string[] = [];
  for (const dir of candidates) {
    try {
      return loadCheckpoint(dir);
    } catch (error) {
      if (!(error instanceof CheckpointError)) throw error;
      reasons.push(error.message);
      warn(`${error.message}; trying the previous checkpoint`);
    }
  }
  throw new CheckpointError(`no valid checkpoint in ${root}:\n  ${reasons.join("\n  ")}`);
}

/**
 * Removes what interrupted checkpoint writes left in a run's checkpoint folder (the temporary
 * `.step-N.tmp-…` directories of saveCheckpoint); called when a run starts or resumes there.
 * @example removeInterruptedWrites("runs/cnn/version_0/checkpoints")
 */
export function removeInterruptedWrites(root: string): void {
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) if (/^\.step-\d+\.tmp-/.test(name)) rmSync(join(root, name), { recursive: true, force: true });
}

/**
 * Refuses a checkpoint of another model: the first field of the model config that differs
 * (when both configs are given), else the first tensor of `own` (a model's stateDict) that the
 * checkpoint lacks or holds with another shape or dtype, named with both.
 * @example assertSameModel(loadLatestCheckpoint(dir, warn), model.stateDict(), config);
 */
export function assertSameModel(checkpoint: LoadedCheckpoint, own: Record<string, { dtype: DType; shape: readonly number[] }>, ownConfig?: unknown): void {
  const fail = (what: string): never => {
    throw new CheckpointError(`checkpoint ${checkpoint.dir} holds a different model: ${what}`);
  };
  const theirConfig = (checkpoint.meta.config as { model?: unknown } | undefined)?.model,
    ourConfig = (ownConfig as { model?: unknown } | undefined)?.model;
  if (theirConfig !== undefined && ourConfig !== undefined) {
    const field = configDifferences(theirConfig, ourConfig, "model")[0];
    if (field !== undefined) {
      const at = (config: unknown) =>
        JSON.stringify(field.split(".").reduce((v, k) => (v as Record<string, unknown> | undefined)?.[k], { model: config } as unknown));
      fail(`${field} is ${at(theirConfig)} there, ${at(ourConfig)} in this run's config`);
    }
  }
  const theirs = checkpoint.reader.tensors.model;
  const describe = (t: { dtype: string; shape: readonly number[] }): string => `${t.dtype} ${formatShape(t.shape)}`;
  for (const [name, t] of Object.entries(own)) {
    const info = theirs.get(name);
    if (!info) fail(`it has no tensor '${name}' (${describe(t)} in this run's model)`);
    else if (info.dtype !== t.dtype || info.shape.join() !== t.shape.join())
      fail(`tensor '${name}' is ${describe(info)} there, ${describe(t)} in this run's model`);
  }
  const extra = [...theirs.keys()].find((name) => !(name in own));
  if (extra !== undefined) fail(`its tensor '${extra}' is not in this run's model`);
}

/** Removes all but the newest `keep` checkpoints of a run. */
export function pruneCheckpoints(root: string, keep: number): void {
  for (const dir of listCheckpoints(root).slice(keep)) rmSync(dir, { recursive: true, force: true });
}
