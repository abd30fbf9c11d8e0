import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";

import { CharTokenizer } from "../data/tokenizer.js";
import { wholeState } from "../parallel/replicated_state.js";
import { disposeState } from "../parallel/state.js";
import { buildOptimizer } from "../train/build.js";
import { checkpointName, loadLatestCheckpoint, saveCheckpoint } from "../train/checkpoint.js";
import type { Config } from "../train/config.js";
import { ConfigError } from "../train/config_file.js";
import type { RunOptions, RunSummary } from "../train/run.js";
import { resumeTarget } from "../train/run_folder.js";
import { loadTrainedModel, modelOfConfig } from "../train/trained_model.js";
import { pruneStructured, structuredModel, structuresOf } from "./structured.js";

/** One stretch of training (run.ts): `config` is trained, `written` goes to the run's config.json. */
export type RunPhase = (config: Config, options: RunOptions, written: Config) => RunSummary;

type StructuredPrune = NonNullable<Config["prune"]>;

/**
 * A run with `prune.kind: structured`: the full model trains up to step `prune.schedule.end`
 * (checkpointed there), rank 0 then rebuilds it without the weakest `prune.sparsity` of each
 * layer's channels, neurons or heads (pruneStructured) and writes the smaller model, with a
 * fresh optimizer and the run's schedule, data and random positions, as that step's checkpoint
 * (the full one moves to `<run>/unpruned/`), and the rest of the run fine-tunes the smaller
 * model from there. config.json keeps the config as given, so `--resume` continues on either
 * side of the cut: a checkpoint before it trains the full model up to it first.
 * @example runWithStructuredCut(config, { progress: true }, runPhase)
 */
export function runWithStructuredCut(config: Config, options: RunOptions, runPhase: RunPhase): RunSummary {
  const prune = config.prune as StructuredPrune;
  const cut = prune.schedule.end;
  const { prune: _, ...rest } = config;
  const smaller: Config = { ...rest, model: structuredModel(config.model, prune.sparsity, prune.targets ?? structuresOf(config.model)) };
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let side = options.resume === undefined ? "before" : sideOfCut(options.resume, config, smaller, cut, log);
  let runDir = options.resume === undefined ? undefined : resumeTarget(options.resume).runDir;
  if (side === "before") {
    const until = Math.min(cut, options.untilStep ?? cut);
    // The cut reads the full model from the checkpoint at its step, whatever checkpoint.atEnd says.
    const full = runPhase({ ...config, checkpoint: { ...config.checkpoint, atEnd: true } }, { ...options, untilStep: until }, config);
    if (full.steps < cut || full.interrupted !== null || full.stopped !== null) return full;
    side = "at";
    runDir = full.run_dir;
  }
  if (side === "at") {
    if ((options.group?.rank ?? 0) === 0) cutModel(config, smaller, runDir!, cut, log);
    options.group?.barrier().wait();
  }
  const { runDir: _made, ...continuing } = options;
  return runPhase(smaller, { ...continuing, resume: runDir! }, config);
}

/** Where the checkpoint `--resume` starts from lies: before the cut, at it (full model), or after it (the smaller model). */
function sideOfCut(resume: string, config: Config, smaller: Config, cut: number, log: (line: string) => void): "before" | "at" | "after" {
  const checkpoint = loadLatestCheckpoint(resumeTarget(resume).checkpoint, log);
  const { step, config: saved } = checkpoint.meta;
  checkpoint.close();
  const model = (saved as Config | undefined)?.model;
  const same = (m: Config["model"]): boolean => isDeepStrictEqual(model, JSON.parse(JSON.stringify(m)));
  if (same(smaller.model) && step >= cut) return "after";
  if (same(config.model) && step <= cut) return step < cut ? "before" : "at";
  throw new ConfigError(
    `--resume ${resume}: its checkpoint at step ${step} holds neither the full model before the structured cut at step ${cut} nor the pruned one after it (was prune changed?)`,
  );
}

/** Rebuilds the checkpoint at step `cut` of `runDir` as the smaller model; the full one is kept in `<run>/unpruned/`. */
function cutModel(config: Config, smaller: Config, runDir: string, cut: number, log: (line: string) => void): void {
  const prune = config.prune as StructuredPrune;
  const at = join(runDir, "checkpoints", checkpointName(cut));
  const trained = loadTrainedModel(at, log);
  if (trained.step !== cut) throw new Error(`structured pruning: the checkpoint at step ${cut} (${at}) is missing or corrupt; found step ${trained.step}`);
  const pruned = pruneStructured(config.model, trained.model.stateDict(), prune.sparsity, prune.targets ?? structuresOf(config.model));
  const tokenizer = trained.meta.tokenizer;
  const model = modelOfConfig(smaller.model, tokenizer === undefined ? 0 : CharTokenizer.fromJSON(tokenizer).vocabSize);
  model.loadStateDict(pruned.state);
  const { version: _v, optimizer: _o, checksums: _c, prune: _p, ...meta } = trained.meta as Record<string, unknown>;
  const unpruned = join(runDir, "unpruned", checkpointName(cut));
  // A crash after this move resumes from an earlier checkpoint and trains up to the cut again.
  if (existsSync(unpruned)) rmSync(unpruned, { recursive: true });
  mkdirSync(join(runDir, "unpruned"), { recursive: true });
  renameSync(at, unpruned);
  const state = wholeState(model, buildOptimizer(smaller, model), "single");
  saveCheckpoint(at, { state, meta: { ...(meta as { step: number; epoch: number }), config: smaller } });
  disposeState(state);
  log(
    `structured cut at step ${cut}: ${trained.model.parameterCount().toLocaleString("en-US")} → ${model.parameterCount().toLocaleString("en-US")} parameters; ` +
      `fine-tuning the smaller model (the full one is kept in ${unpruned})`,
  );
  // Rank 0 trains on from the checkpoint like every rank: neither model stays in its memory.
  for (const t of new Set([trained.model.stateDict(), pruned.state, model.stateDict()].flatMap((s) => Object.values(s)))) t.dispose();
}
