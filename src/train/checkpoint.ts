import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

import type { OptimizerStateDict, ParamState } from "../optim/optimizer.js";
import { decodeSafetensors, encodeSafetensors } from "../tensor/safetensors.js";
import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";

/**
 * Checkpoints: a directory holding model.safetensors, optimizer.safetensors, meta.json (the
 * step, schedule, random and data positions, the config, and a SHA-256 per tensor) and
 * manifest.json (a SHA-256 of every other file, so an edited meta.json is refused too). It is
 * written into a temporary sibling and renamed into place, so a crash never leaves a partial
 * checkpoint under the real name; loading verifies every checksum and never runs code.
 */

export const CHECKPOINT_VERSION = 1;

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
  config?: unknown;
  /** The optimizer's hyperparameters and per-parameter step counts. */
  optimizer?: { paramGroups: Record<string, unknown>[]; steps: Record<string, number> };
  /** file → tensor name → sha256 of its bytes. */
  checksums: Record<string, Record<string, string>>;
}

export interface CheckpointContent {
  model: Record<string, Tensor>;
  optimizer?: OptimizerStateDict;
  meta: Omit<CheckpointMeta, "version" | "checksums" | "optimizer">;
}

export class CheckpointError extends Error {}

function digest(t: Tensor): string {
  const d = t.data;
  return sha256(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
}

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** The file that lists every other file of a checkpoint with its SHA-256. */
const MANIFEST = "manifest.json";

function optimizerTensors(dict: OptimizerStateDict): { tensors: Record<string, Tensor>; steps: Record<string, number> } {
  const tensors: Record<string, Tensor> = {};
  const steps: Record<string, number> = {};
  for (const [index, s] of Object.entries(dict.state)) {
    steps[index] = s.step;
    for (const [name, t] of Object.entries(s.tensors)) tensors[`state.${index}.${name}`] = t;
  }
  return { tensors, steps };
}

/**
 * Writes a checkpoint to `dir` atomically (an existing checkpoint there is replaced only once
 * the new one is complete).
 *
 * @example
 * saveCheckpoint("runs/cnn/version_0/checkpoints/step-00000500", { model: model.stateDict(), optimizer: opt.stateDict(), meta: { step: 500, epoch: 1 } });
 */
export function saveCheckpoint(dir: string, content: CheckpointContent): void {
  mkdirSync(dirname(dir), { recursive: true });
  const temp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  mkdirSync(temp);
  try {
    const checksums: CheckpointMeta["checksums"] = {};
    const files: Record<string, string> = {};
    const put = (file: string, bytes: Uint8Array): void => {
      files[file] = sha256(bytes);
      writeFileSync(join(temp, file), bytes);
    };
    const write = (file: string, tensors: Record<string, Tensor>): void => {
      checksums[file] = Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, digest(t)]));
      put(file, encodeSafetensors(tensors));
    };
    write("model.safetensors", content.model);
    const meta: CheckpointMeta = { version: CHECKPOINT_VERSION, ...content.meta, checksums };
    if (content.optimizer) {
      const { tensors, steps } = optimizerTensors(content.optimizer);
      write("optimizer.safetensors", tensors);
      meta.optimizer = { paramGroups: content.optimizer.paramGroups, steps };
    }
    put("meta.json", Buffer.from(JSON.stringify(meta, null, 1)));
    writeFileSync(join(temp, MANIFEST), JSON.stringify({ sha256: files }, null, 1));
    const old = `${temp}.old`;
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(temp, dir);
    rmSync(old, { recursive: true, force: true });
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
}

export interface LoadedCheckpoint {
  dir: string;
  meta: CheckpointMeta;
  model: Record<string, Tensor>;
  optimizer?: OptimizerStateDict;
}

/** Reads and verifies one checkpoint; a missing file or a wrong checksum is a CheckpointError naming it. */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const fail = (what: string): never => {
    throw new CheckpointError(`checkpoint ${dir}: ${what}`);
  };
  const listed = readManifest(dir, fail);
  /** A file's bytes, and whether they are the bytes the manifest lists. */
  const listedFile = (name: string): { bytes: Buffer; intact: boolean } => {
    if (!listed.has(name)) fail(`${MANIFEST} does not list ${name}`);
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dir, name));
    } catch (error) {
      return fail(`${name} is missing (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    return { bytes, intact: sha256(bytes) === listed.get(name) };
  };
  const metaFile = listedFile("meta.json");
  if (!metaFile.intact) fail("meta.json fails its checksum in manifest.json (it was edited or is corrupt)");
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(metaFile.bytes.toString("utf8"));
  } catch (error) {
    return fail(`meta.json is not JSON (${(error as Error).message})`);
  }
  if (meta.version !== CHECKPOINT_VERSION) fail(`version ${meta.version}, expected ${CHECKPOINT_VERSION}`);
  if (!meta.checksums || typeof meta.checksums !== "object") fail("meta.json has no checksums");
  const read = (file: string): Record<string, Tensor> => {
    const expected = meta.checksums[file];
    if (!expected) fail(`meta.json lists no checksums for ${file}`);
    const { bytes, intact } = listedFile(file);
    let tensors: Record<string, Tensor>;
    try {
      tensors = decodeSafetensors(bytes, join(dir, file)).tensors;
    } catch (error) {
      return fail((error as Error).message);
    }
    const names = new Set([...Object.keys(expected!), ...Object.keys(tensors)]);
    for (const name of names) {
      const t = tensors[name];
      if (!t || expected![name] === undefined) fail(`${file}: tensor '${name}' is in ${t ? "the file" : "meta.json"} only`);
      if (digest(t!) !== expected![name]) {
        for (const x of Object.values(tensors)) x.dispose();
        fail(`${file}: tensor '${name}' fails its checksum (the file is corrupt)`);
      }
    }
    // The tensors' bytes verified, what remains (header, metadata, padding) is checked whole.
    if (!intact) {
      for (const x of Object.values(tensors)) x.dispose();
      fail(`${file} fails its checksum in manifest.json (its header was edited or is corrupt)`);
    }
    return tensors;
  };
  const model = read("model.safetensors");
  const loaded: LoadedCheckpoint = { dir, meta, model };
  if (meta.optimizer) {
    const flat = read("optimizer.safetensors");
    const state: Record<number, ParamState> = {};
    for (const [index, step] of Object.entries(meta.optimizer.steps)) state[Number(index)] = { step, tensors: {} };
    for (const [key, t] of Object.entries(flat)) {
      const [, index, name] = key.split(".") as [string, string, string];
      const entry = state[Number(index)];
      if (!entry) fail(`optimizer.safetensors: '${key}' belongs to no parameter with a step count`);
      entry!.tensors[name] = t;
    }
    loaded.optimizer = { state, paramGroups: meta.optimizer.paramGroups };
  }
  return loaded;
}

/** manifest.json's file → SHA-256 map. */
function readManifest(dir: string, fail: (what: string) => never): Map<string, string> {
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
 * Refuses a checkpoint of another model: the first tensor of `own` (a model's stateDict) that
 * the checkpoint lacks or holds with another shape or dtype is named with both.
 * @example assertSameModel(loadLatestCheckpoint(dir, warn), model.stateDict());
 */
export function assertSameModel(checkpoint: LoadedCheckpoint, own: Record<string, { dtype: DType; shape: readonly number[] }>): void {
  const describe = (t: { dtype: DType; shape: readonly number[] }): string => `${t.dtype} [${t.shape.join(", ")}]`;
  const fail = (what: string): never => {
    throw new CheckpointError(`checkpoint ${checkpoint.dir} holds a different model: ${what}`);
  };
  for (const [name, t] of Object.entries(own)) {
    const theirs = checkpoint.model[name];
    if (!theirs) fail(`it has no tensor '${name}' (${describe(t)} in this run's model)`);
    else if (theirs.dtype !== t.dtype || theirs.shape.join() !== t.shape.join())
      fail(`tensor '${name}' is ${describe(theirs)} there, ${describe(t)} in this run's model`);
  }
  const extra = Object.keys(checkpoint.model).find((name) => !(name in own));
  if (extra !== undefined) fail(`its tensor '${extra}' is not in this run's model`);
}

/** Removes all but the newest `keep` checkpoints of a run. */
export function pruneCheckpoints(root: string, keep: number): void {
  for (const dir of listCheckpoints(root).slice(keep)) rmSync(dir, { recursive: true, force: true });
}
