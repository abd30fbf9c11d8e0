import { randomInt } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

import type { ProcessGroup } from "../parallel/process_group.js";
import { elementCount, type PieceSet, type SavedParamGroup, type StateSection, type StrategyState } from "../parallel/state.js";
import { tensor } from "../tensor/create.js";
import type { DType } from "../tensor/dtype.js";
import { encodeSafetensors } from "../tensor/safetensors.js";
import type { Tensor } from "../tensor/tensor.js";
import { CHECKPOINT_VERSION, CheckpointError, type CheckpointMeta, failIn, MANIFEST, sha256 } from "./checkpoint_files.js";
import { type CheckpointIndex, checkTiling, INDEX, type IndexEntry, pieceFile } from "./checkpoint_index.js";

/**
 * Writing a checkpoint, by one process or by every rank of a group together. Each rank writes
 * its pieces (a safetensors file per section, the pieces' element ranges and its files' SHA-256
 * in a report) into one temporary sibling directory whose name rank 0 chose; once every rank
 * says its part is written, rank 0 turns the reports into index.json, writes meta.json and the
 * manifest over every file, and renames the directory into place. The rename is the commit: a
 * crash at any point before it leaves the previous checkpoint as the newest complete one (and a
 * `.step-N.tmp-…` directory that removeInterruptedWrites deletes); a rank that fails to write
 * makes every rank fail, naming it, with nothing kept.
 */

export interface CheckpointContent {
  /** This rank's state (Strategy.stateDict). */
  state: StrategyState;
  /** The step, positions, config and anything else the run saves (JSON values), from rank 0. */
  meta: Omit<CheckpointMeta, "version" | "optimizer" | "checksums">;
}

/** What one rank's report (`rank-N.json`, merged into the index and removed) says. */
interface RankReport {
  rank: number;
  layout: string;
  model: Record<string, ReportedPiece>;
  optimizer: Record<string, ReportedPiece>;
  steps: Record<string, number>;
  paramGroups: SavedParamGroup[];
  sha256: Record<string, string>;
}

interface ReportedPiece {
  shape: number[];
  dtype: DType;
  start: number;
  length: number;
}

const reportFile = (rank: number): string => `rank-${String(rank).padStart(5, "0")}.json`;

/**
 * Writes a checkpoint to `dir` atomically (an existing checkpoint there is replaced only once
 * the new one is complete). Under a group every rank calls it at the same point with its own
 * state; rank 0's meta is the one kept.
 *
 * @example
 * saveCheckpoint("runs/cnn/version_0/checkpoints/step-00000500", { state: strategy.stateDict(opt), meta: { step: 500, epoch: 1 } }, group);
 */
export function saveCheckpoint(dir: string, content: CheckpointContent, group?: ProcessGroup): void {
  const rank = group?.rank ?? 0,
    size = group?.size ?? 1;
  const temp = agreeOnTemp(dir, group);
  let error: unknown = null;
  try {
    writeRankPart(temp, rank, content.state);
  } catch (e) {
    error = e;
  }
  const failed = ranksThatFailed(group, error !== null);
  if (failed.length > 0) {
    if (rank === 0) rmSync(temp, { recursive: true, force: true });
    if (error) throw error;
    throw new CheckpointError(`checkpoint ${dir}: rank ${failed.join(", ")} failed to write its part; nothing was kept`);
  }
  if (rank === 0) {
    try {
      commit(dir, temp, size, content.meta);
    } catch (e) {
      rmSync(temp, { recursive: true, force: true });
      error = e;
    }
  }
  // Every rank learns whether rank 0 committed, so none goes on as if it had when it did not.
  if (ranksThatFailed(group, rank === 0 && error !== null).length > 0) {
    throw error ?? new CheckpointError(`checkpoint ${dir}: rank 0 failed to complete it; nothing was kept`);
  }
}

/** The temporary directory of this write: rank 0 creates it and tells the others its name. */
function agreeOnTemp(dir: string, group: ProcessGroup | undefined): string {
  let token = randomInt(2 ** 24);
  const named = (t: number) => join(dirname(dir), `.${basename(dir)}.tmp-${t.toString(16).padStart(6, "0")}`);
  let error: unknown = null;
  if ((group?.rank ?? 0) === 0) {
    try {
      mkdirSync(dirname(dir), { recursive: true });
      mkdirSync(named(token));
    } catch (e) {
      error = e;
      token = -1;
    }
  }
  if (group) {
    const shared = tensor([token]);
    try {
      group.broadcast(shared, 0).wait();
      token = shared.item();
    } finally {
      shared.dispose();
    }
  }
  if (token < 0) throw error ?? new CheckpointError(`checkpoint ${dir}: rank 0 could not create its temporary directory`);
  return named(token);
}

/** The ranks that report a failure (all ranks learn the same list). */
function ranksThatFailed(group: ProcessGroup | undefined, failed: boolean): number[] {
  if (!group) return failed ? [0] : [];
  const flags = tensor(Array.from({ length: group.size }, (_, r) => (r === group.rank && failed ? 1 : 0)));
  try {
    group.allReduce(flags, "sum").wait();
    return [...flags.toArray()].flatMap((f, r) => (f > 0 ? [r] : []));
  } finally {
    flags.dispose();
  }
}

/** This rank's safetensors files and report. */
function writeRankPart(temp: string, rank: number, state: StrategyState): void {
  const report: RankReport = { rank, layout: state.layout, model: {}, optimizer: {}, steps: state.steps, paramGroups: state.paramGroups, sha256: {} };
  for (const section of ["model", "optimizer"] as const) {
    const pieces: PieceSet = state[section];
    if (Object.keys(pieces).length === 0) continue;
    const data: Record<string, Tensor> = {};
    for (const [name, piece] of Object.entries(pieces)) {
      if (piece.data.shape.length !== 1 || piece.start < 0 || piece.start + piece.data.size > elementCount(piece.shape)) {
        throw new RangeError(`checkpoint: rank ${rank}'s ${section} piece '${name}' is not 1-D elements ${piece.start}.. of [${piece.shape.join(", ")}]`);
      }
      data[name] = piece.data;
      report[section][name] = { shape: [...piece.shape], dtype: piece.data.dtype, start: piece.start, length: piece.data.size };
    }
    const file = pieceFile(section, rank),
      bytes = encodeSafetensors(data);
    report.sha256[file] = sha256(bytes);
    writeFileSync(join(temp, file), bytes);
  }
  writeFileSync(join(temp, reportFile(rank)), JSON.stringify(report));
}

/** Rank 0, once every rank's part is written: index, meta, manifest, then the rename. */
function commit(dir: string, temp: string, size: number, meta: CheckpointContent["meta"]): void {
  const fail = failIn(dir);
  const reports: RankReport[] = [];
  for (let r = 0; r < size; r++) reports.push(JSON.parse(readFileSync(join(temp, reportFile(r)), "utf8")) as RankReport);
  const index: CheckpointIndex = { version: 2, worldSize: size, layout: reports[0]!.layout, model: {}, optimizer: {} };
  const steps: Record<string, number> = {};
  const files: Record<string, string> = {};
  for (const report of reports) {
    for (const section of ["model", "optimizer"] as const) mergePieces(index[section], report, section, fail);
    for (const [name, step] of Object.entries(report.steps)) {
      if (steps[name] !== undefined && steps[name] !== step) fail(`parameter '${name}' has step ${steps[name]} on one rank, ${step} on rank ${report.rank}`);
      steps[name] = step;
    }
    Object.assign(files, report.sha256);
  }
  checkTiling(index, fail);
  const paramGroups = reports.find((r) => r.paramGroups.length > 0)?.paramGroups;
  const fullMeta: CheckpointMeta = { version: CHECKPOINT_VERSION, ...meta, ...(paramGroups ? { optimizer: { paramGroups, steps } } : {}) };
  const put = (file: string, text: string): void => {
    const bytes = Buffer.from(text);
    files[file] = sha256(bytes);
    writeFileSync(join(temp, file), bytes);
  };
  put(INDEX, JSON.stringify(index, null, 1));
  put("meta.json", JSON.stringify(fullMeta, null, 1));
  writeFileSync(join(temp, MANIFEST), JSON.stringify({ sha256: files }, null, 1));
  for (let r = 0; r < size; r++) rmSync(join(temp, reportFile(r)));
  const old = `${temp}.old`;
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(temp, dir);
  rmSync(old, { recursive: true, force: true });
}

/** Adds a rank's pieces of one section to the index; a tensor's shape and dtype must agree across ranks. */
function mergePieces(entries: Record<string, IndexEntry>, report: RankReport, section: StateSection, fail: (what: string) => never): void {
  for (const [name, piece] of Object.entries(report[section])) {
    const entry = (entries[name] ??= { shape: piece.shape, dtype: piece.dtype, pieces: [] });
    if (entry.shape.join() !== piece.shape.join() || entry.dtype !== piece.dtype) {
      fail(
        `${section} tensor '${name}' is ${entry.dtype} [${entry.shape.join(", ")}] on one rank, ${piece.dtype} [${piece.shape.join(", ")}] on rank ${report.rank}`,
      );
    }
    entry.pieces.push({ file: pieceFile(section, report.rank), start: piece.start, length: piece.length });
  }
}
