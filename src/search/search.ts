import { existsSync, mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";

import type { Config } from "../train/config.js";
import { applyOverrides, ConfigError, parseConfig } from "../train/config_file.js";
import { PopulationBasedTraining } from "./pbt.js";
import { seededRandom } from "./random.js";
import { RandomSearch } from "./random_search.js";
import { prepareTrialFolder, runSegment, type SegmentOutcome } from "./run_segment.js";
import type { Job, Scheduler, SchedulerKind, SegmentResult } from "./scheduler.js";
import { appendSearchEvent, endCutLine, readSearchLog, type SearchEvent, type SearchSettings } from "./search_log.js";
import { type Dimension, paramSets, sampleParams } from "./space.js";
import { SuccessiveHalving } from "./successive_halving.js";
import { type SearchOutcome, summarizeTrials } from "./trial_summary.js";

/** What `turbine search` runs. */
export interface SearchOptions {
  /** The raw base config (a file's contents or a built-in config), before the trials' values. */
  base: unknown;
  /** Where the base config came from (recorded, and in the line that reproduces the best trial). */
  configSource: string;
  space: Dimension[];
  scheduler: SchedulerKind;
  trials: number;
  /** Trials training at once; each gets cores / parallel kernel threads (unless the space sets train.threads). */
  parallel: number;
  /** Holds search.jsonl and trials/<n>/ (each trial's run folder) and trials/<n>.log. */
  outDir: string;
  /** Steps of a trial that trains to the end (its config's train.steps, so its schedule spans them). */
  maxSteps: number;
  metric: "accuracy" | "loss";
  /** ASHA's and Hyperband's first rung. */
  minSteps: number;
  /** ASHA's and Hyperband's reduction factor. */
  eta: number;
  /** PBT's steps between exploit/explore decisions. */
  perturb: number;
  seed: number;
  /** Only continue a search (a ConfigError when outDir holds none). */
  resume?: boolean;
  /** Aborting stops every running trial after its step, with a checkpoint; the search then ends, to be continued later. */
  signal?: AbortSignal;
  /** Where progress lines go (default: stderr). */
  log?: (line: string) => void;
}

/** The settings a continued search must share with the one in its folder (all but parallel). */
function settingsOf(o: SearchOptions): SearchSettings {
  const { base, configSource, space, scheduler, trials, maxSteps, metric, minSteps, eta, perturb, seed } = o;
  return { config: configSource, base, space, scheduler, trials, maxSteps, metric, minSteps, eta, perturb, seed };
}

/** The scheduler a kind names, over the space's seeded samples. */
function schedulerFor(o: SearchOptions): Scheduler {
  const sample = (trial: number) => sampleParams(o.space, seededRandom(o.seed, trial));
  const { trials, maxSteps, minSteps, eta } = o;
  switch (o.scheduler) {
    case "random":
      return new RandomSearch({ trials, maxSteps, sample });
    case "asha":
      return new SuccessiveHalving({ trials, maxSteps, minSteps, eta, brackets: 1, sample });
    case "hyperband":
      return new SuccessiveHalving({ trials, maxSteps, minSteps, eta, brackets: SuccessiveHalving.hyperbandBrackets(minSteps, eta, maxSteps), sample });
    case "pbt":
      return new PopulationBasedTraining({ trials, maxSteps, perturb: o.perturb, space: o.space, sample, seed: o.seed, hasCheckpoint: existsSync });
  }
}

/**
 * Checks a search's options against its base config before anything runs: a ConfigError (exit 2)
 * for a metric the task has not, or rungs that do not fit the budget.
 * @example checkSearchOptions(options);
 */
export function checkSearchOptions(o: SearchOptions): void {
  const base = parseConfig(o.base, o.configSource);
  if (o.metric === "accuracy" && base.model.kind === "gpt")
    throw new ConfigError("--metric accuracy: the gpt is evaluated by its loss only; use --metric loss");
  if (o.minSteps > o.maxSteps) throw new ConfigError(`--min-steps ${o.minSteps} is more than --max-steps ${o.maxSteps}`);
  if (o.perturb > o.maxSteps) throw new ConfigError(`--perturb ${o.perturb} is more than --max-steps ${o.maxSteps}`);
}

/**
 * Runs (or continues) a search: segments from the scheduler, `parallel` at a time, each in a
 * worker thread, every start and result appended to search.jsonl. A continued search replays
 * the log, never reruns a segment that has a result, and first reruns the segments that were cut
 * short, from their trials' newest checkpoints.
 * @example const outcome = await runSearch({ base, configSource: "cnn.json", space, scheduler: "asha", trials: 16, parallel: 2, outDir: "runs/search", maxSteps: 270, metric: "accuracy", minSteps: 10, eta: 3, perturb: 90, seed: 0 });
 */
export async function runSearch(o: SearchOptions): Promise<SearchOutcome> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  checkSearchOptions(o);
  const logPath = join(o.outDir, "search.jsonl");
  const settings = settingsOf(o);
  const history = readSearchLog(logPath);
  if (o.resume && history === null) throw new ConfigError(`--resume: ${o.outDir} holds no search.jsonl to continue`);
  const scheduler = schedulerFor(o);
  const results: (SegmentResult & { train_s: number })[] = [];
  // Segments handed out without a result yet, by trial (a trial trains one segment at a time).
  const cutShort = new Map<number, Job>();
  if (history) {
    const differs = Object.keys(settings).filter((k) => JSON.stringify(settings[k]) !== JSON.stringify(history.settings[k]));
    if (differs.length > 0)
      throw new ConfigError(`${logPath} is a search with other settings (${differs.join(", ")} differ): continue it with the same ones, or give another --out`);
    endCutLine(logPath);
    for (const event of history.events) replay(event, scheduler, cutShort, results);
    log(`continuing the search in ${o.outDir}: ${results.length} segments done, ${cutShort.size} to run again from their checkpoints`);
  } else {
    mkdirSync(o.outDir, { recursive: true });
    appendSearchEvent(logPath, { event: "search", settings });
  }
  const stop = new SharedArrayBuffer(4);
  const stopFlag = new Int32Array(stop);
  const onAbort = (): void => void Atomics.store(stopFlag, 0, 1);
  o.signal?.addEventListener("abort", onAbort);
  const threads = Math.max(1, Math.floor(availableParallelism() / o.parallel));
  const queue = [...cutShort.values()];
  const running = new Map<number, Promise<{ job: Job; outcome: SegmentOutcome }>>();
  try {
    for (;;) {
      while (!o.signal?.aborted && running.size < o.parallel) {
        const job = queue.shift() ?? handOut(scheduler, logPath);
        if (!job) break;
        running.set(
          job.trial,
          startSegment(o, job, threads, stop).then((outcome) => ({ job, outcome })),
        );
      }
      if (running.size === 0) break;
      const { job, outcome } = await Promise.race(running.values());
      running.delete(job.trial);
      // A stopped segment keeps its start without a result: the continued search runs it again.
      if (outcome.interrupted) continue;
      const result = resultOf(job, outcome, o.metric);
      appendSearchEvent(logPath, { event: "result", train_s: outcome.train_s, ...result });
      scheduler.finished(result);
      results.push({ ...result, train_s: outcome.train_s });
      const score = result.error
        ? `failed: ${result.error}`
        : `${o.metric} ${o.metric === "accuracy" ? `${(100 * result.accuracy!).toFixed(2)}%` : result.loss!.toFixed(4)}`;
      log(`trial ${job.trial}: steps ${job.fromStep} → ${job.toStep}${job.copyFrom ? ` (from trial ${job.copyFrom.trial}'s checkpoint)` : ""}: ${score}`);
    }
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
  return summarizeTrials(results, {
    maxSteps: o.maxSteps,
    metric: o.metric,
    interrupted: o.signal?.aborted ? String(o.signal.reason ?? "a stop") : null,
    outDir: o.outDir,
  });
}

/** The scheduler's next segment, recorded as started; null when none can start now. */
function handOut(scheduler: Scheduler, logPath: string): Job | null {
  const job = scheduler.next();
  if (!job) return null;
  scheduler.started(job);
  appendSearchEvent(logPath, { event: "start", job });
  return job;
}

/** A logged event into a fresh scheduler (resume). */
function replay(event: SearchEvent, scheduler: Scheduler, cutShort: Map<number, Job>, results: (SegmentResult & { train_s: number })[]): void {
  if (event.event === "start") {
    scheduler.started(event.job);
    cutShort.set(event.job.trial, event.job);
  } else if (event.event === "result") {
    const { event: _kind, ...result } = event;
    scheduler.finished(result);
    cutShort.delete(result.job.trial);
    results.push(result);
  }
}

/** Starts a segment: the trial's config (its values, the budget, its share of the cores) and folder. */
function startSegment(o: SearchOptions, job: Job, threads: number, stop: SharedArrayBuffer): Promise<SegmentOutcome> {
  const runDir = join(o.outDir, "trials", String(job.trial));
  let config: Config;
  try {
    const sets = [...paramSets(job.params), `train.steps=${o.maxSteps}`, "checkpoint.atEnd=true"];
    if (!("train.threads" in job.params)) sets.push(`train.threads=${threads}`);
    config = parseConfig(applyOverrides(o.base, sets), `trial ${job.trial}`);
  } catch (error) {
    // A combination of values the schema refuses (say, heads that do not divide the width) fails that trial only.
    if (!(error instanceof ConfigError)) throw error;
    return Promise.resolve({ eval: null, checkpoint: null, steps: 0, train_s: 0, interrupted: false, error: error.message.replace(/\s*\n\s*/g, "; ") });
  }
  const resume = prepareTrialFolder(job, runDir);
  const logFile = join(o.outDir, "trials", `${job.trial}.log`);
  return runSegment({ config, runDir, resume, untilStep: job.toStep, configHyperparameters: job.copyFrom !== undefined, stop, logFile });
}

/** A segment's outcome as the scheduler sees it: higher scores are better. */
function resultOf(job: Job, outcome: SegmentOutcome, metric: "accuracy" | "loss"): SegmentResult {
  const loss = outcome.eval?.loss ?? null,
    accuracy = outcome.eval?.accuracy ?? null;
  const error = outcome.error ?? (outcome.eval === null ? "no evaluation" : undefined);
  const score = error ? null : metric === "accuracy" ? accuracy : -loss!;
  return { job, score, loss, accuracy, checkpoint: outcome.checkpoint, ...(error ? { error } : {}) };
}
