import { totalmem } from "node:os";

import { setOpObserver } from "../autograd/observer.js";
import type { ProcessGroup } from "../parallel/process_group.js";
import type { Config } from "../train/config.js";
import { runTraining } from "../train/run.js";
import { type RankProfile, rankProfile, type TimeShares } from "./breakdown.js";
import { gatherText } from "./gather_text.js";
import { StepRecorder } from "./recorder.js";
import { capTrace, rankTraceEvents, type TraceCap, type TraceEvent } from "./trace_events.js";
import { TracingGroup } from "./tracing_group.js";
import { type Verdict, verdict } from "./verdict.js";

/** Options of profileTraining. */
export interface ProfileOptions {
  /** Steps recorded (default 5). */
  steps?: number;
  /** Steps run first, unrecorded (default 2): kernel primitives are made and optimizer state allocated in the first. */
  warmup?: number;
  /** The job's group under `turbine launch`: every rank profiles itself, rank 0 merges. */
  group?: ProcessGroup;
  /** Bytes a rank may use; default: this machine's memory shared by its ranks (LOCAL_WORLD_SIZE). */
  memoryBudget?: number;
  /** Build the Chrome trace (default false). */
  trace?: boolean;
  /** Most bytes of trace JSON, all ranks together (default 20 MB). */
  traceBytes?: number;
  /** Where the run's warnings go (default stderr). */
  log?: (line: string) => void;
}

/** The trace of a profile: Chrome trace-event JSON with one pid per rank. */
export interface ProfileTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ms";
  otherData: { ranks: number; steps: number; maxBytes: number; droppedOps: number; droppedUpToUs: number; droppedCounters: number; note: string };
}

/** The outcome of `turbine profile`, also its --json. */
export interface ProfileReport {
  name: string;
  steps: number;
  warmup: number;
  ranks: number;
  /** Mean over ranks of each rank's step time. */
  stepMs: number;
  /** Mean over ranks. */
  shares: TimeShares;
  memoryBudget: number;
  perRank: RankProfile[];
  verdict: Verdict;
  /** The training run's folder (its config.json and metrics.jsonl). */
  runDir: string;
  trace: ProfileTrace | null;
}

/** Default cap of a trace file: Perfetto and chrome://tracing open it at once (Kineto's traces of several hundred MB render blank). */
export const DEFAULT_TRACE_BYTES = 20e6;

/**
 * Profiles a few steps of a config's training, as `turbine train` would run it (its model,
 * data, strategy; under a group, data, ZeRO, tensor or pipeline parallel): per-op forward and
 * backward time, data wait, each collective with its bytes and overlap, the memory timeline,
 * framework overhead and the bottleneck verdict. The run writes its folder (no checkpoint, no
 * evaluation). Every rank of a group must call it; rank 0 gets the merged report, the others null.
 *
 * @example
 * const report = profileTraining(parseConfig(readConfigFile("examples/gpt-char.json"), "gpt"), { steps: 3 });
 * report.verdict.bottleneck // "compute"
 */
export function profileTraining(config: Config, options: ProfileOptions = {}): ProfileReport | null {
  const steps = options.steps ?? 5,
    warmup = options.warmup ?? 2;
  const { group } = options;
  const ranks = group?.size ?? 1;
  const profiled: Config = {
    ...config,
    train: { ...config.train, steps: warmup + steps, evalEvery: null, earlyStopping: undefined },
    // The step time does not depend on the learning rate; a recipe's long schedule cut to a few steps would only warn.
    schedule: { ...config.schedule, warmup: 0, decay: "constant" },
    checkpoint: { ...config.checkpoint, every: null, atEnd: false },
    logging: { ...config.logging, tensorboard: false },
  };
  const recorder = new StepRecorder({ warmup, steps });
  const previous = setOpObserver(recorder);
  let runDir: string;
  try {
    const traced = group ? new TracingGroup(group, recorder) : undefined;
    runDir = runTraining(profiled, {
      progress: false,
      evaluate: false,
      ...(traced ? { group: traced } : {}),
      ...(options.log ? { log: options.log } : {}),
    }).run_dir;
  } finally {
    setOpObserver(previous);
  }
  const rank = group?.rank ?? 0;
  const recording = recorder.recording();
  const mine = rankProfile(recording, rank);
  const maxBytes = options.traceBytes ?? DEFAULT_TRACE_BYTES;
  // Each rank keeps its share of the cap, so the merged file stays under it and the gather is bounded.
  const capped = options.trace ? capTrace(rankTraceEvents(recording, rank), maxBytes / ranks) : null;
  const parts = group
    ? gatherText(group, JSON.stringify({ profile: mine, trace: capped })).map((t) => JSON.parse(t) as { profile: RankProfile; trace: typeof capped })
    : [{ profile: mine, trace: capped }];
  if (rank !== 0) return null;
  const perRank = parts.map((p) => p.profile);
  const memoryBudget = options.memoryBudget ?? totalmem() / Number(process.env.LOCAL_WORLD_SIZE ?? 1);
  const shares = meanShares(perRank);
  const peak = perRank.reduce((top, p) => (p.peakBytes.total > top.peakBytes.total ? p : top)).peakBytes;
  const timed = perRank.flatMap((p) => p.collectives);
  const collectiveMs = timed.reduce((s, c) => s + c.msPerStep, 0);
  const data = config.data;
  return {
    name: config.name ?? config.model.kind,
    steps,
    warmup,
    ranks,
    stepMs: perRank.reduce((s, p) => s + p.stepMs, 0) / ranks,
    shares,
    memoryBudget,
    perRank,
    verdict: verdict({
      shares,
      peakBytes: peak,
      memoryBudget,
      overlapped: collectiveMs > 0 ? timed.reduce((s, c) => s + c.overlapped * c.msPerStep, 0) / collectiveMs : null,
      settings: {
        numWorkers: "numWorkers" in data ? data.numWorkers : null,
        precision: config.train.precision,
        compression: config.parallel.compression.kind,
        zero: config.parallel.zero,
        checkpointing: config.model.kind === "gpt" ? config.model.checkpoint : null,
      },
    }),
    runDir,
    trace: options.trace
      ? mergedTrace(
          parts.map((p) => p.trace!),
          maxBytes,
          steps,
        )
      : null,
  };
}

function meanShares(perRank: readonly RankProfile[]): TimeShares {
  const keys = ["compute", "data", "communication", "overhead"] as const;
  return Object.fromEntries(keys.map((k) => [k, perRank.reduce((s, p) => s + p.shares[k], 0) / perRank.length])) as unknown as TimeShares;
}

function mergedTrace(parts: readonly { events: TraceEvent[]; cap: TraceCap }[], maxBytes: number, steps: number): ProfileTrace {
  const droppedOps = parts.reduce((s, p) => s + p.cap.droppedOps, 0);
  const droppedCounters = parts.reduce((s, p) => s + p.cap.droppedCounters, 0);
  const droppedUpToUs = Math.max(0, ...parts.map((p) => p.cap.droppedUpToUs));
  const mb = `${maxBytes / 1e6} MB`;
  const thinned = droppedCounters > 0 ? ` and ${droppedCounters} memory samples (every other one)` : "";
  return {
    traceEvents: parts.flatMap((p) => p.events),
    displayTimeUnit: "ms",
    otherData: {
      ranks: parts.length,
      steps,
      maxBytes,
      droppedOps,
      droppedUpToUs,
      droppedCounters,
      note:
        droppedOps === 0
          ? `every op of the ${steps} profiled steps is in the trace (cap ${mb})`
          : `${droppedOps} op events of at most ${droppedUpToUs} µs${thinned} were dropped, shortest first, to keep the trace under ${mb}; the profile's tables count them`,
    },
  };
}
