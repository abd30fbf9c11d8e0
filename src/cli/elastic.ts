import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { MetricsFile } from "../train/callbacks.js";
import { CheckpointError, loadLatestCheckpoint } from "../train/checkpoint.js";
import { type BatchLayout, keepGlobalBatch } from "./elastic_batch.js";
import { ELASTIC_ENV, type ElasticSegment } from "./elastic_env.js";
import { UsageError } from "./errors.js";
import type { JobEnd, RunningJob } from "./launch_jobs.js";

/**
 * `turbine launch --max-restarts K [--min-ranks M]`, torchrun's elastic agent for turbine: when
 * a rank dies or a collective times out, the job's other ranks end (a collective with the dead
 * rank fails at once), and the job starts again from the newest complete checkpoint of the same
 * run folder, on as many ranks as can come back (at least M), keeping the global batch by
 * accumulation where it divides. Each start is a segment; metrics.jsonl gets one line per segment.
 */

/** The restart budget and the fewest ranks a restart may run on. */
export interface ElasticLimits {
  maxRestarts: number;
  minRanks: number;
}

/**
 * Reads --max-restarts and --min-ranks for a job of `size` ranks; null when --max-restarts is
 * absent (no restarts). Bad values are a UsageError naming the value and what is allowed.
 * @example elasticLimits({ maxRestarts: "3", minRanks: "2" }, 4) // { maxRestarts: 3, minRanks: 2 }
 */
export function elasticLimits(opts: { maxRestarts?: string; minRanks?: string }, size: number): ElasticLimits | null {
  const count = (value: string, flag: string, least: number): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < least)
      throw new UsageError(
        `launch: ${flag} must be ${least === 0 ? "a non-negative" : "a positive"} integer, got ${JSON.stringify(value)}`,
        "see turbine launch --help",
      );
    return n;
  };
  if (opts.maxRestarts === undefined) {
    if (opts.minRanks !== undefined) throw new UsageError("launch: --min-ranks needs --max-restarts", "give --max-restarts K to restart failed jobs");
    return null;
  }
  const maxRestarts = count(opts.maxRestarts, "--max-restarts", 0);
  const minRanks = opts.minRanks === undefined ? size : count(opts.minRanks, "--min-ranks", 1);
  if (minRanks > size) throw new UsageError(`launch: --min-ranks ${minRanks} is more than the job's ${size} ranks`, `give --min-ranks between 1 and ${size}`);
  return { maxRestarts, minRanks };
}

/** What the restart loop needs of a backend. */
export interface ElasticJob {
  /** Ranks of the first segment (and the most any restart gets). */
  size: number;
  /** The run folder every segment trains in (made by the launcher, or the resumed run's). */
  runDir: string;
  /** The first segment's batch layout, whose global batch restarts keep. */
  layout: BatchLayout;
  /** Ranks of one data-parallel replica (parallel.tensor × parallel.pipeline): a restart uses a multiple of it. */
  replica: number;
  /** Starts a segment of `ranks` ranks with this extra environment. */
  start(ranks: number, env: Record<string, string>, onJsonLine: (line: string) => void): RunningJob;
  /** How many ranks can run now (hosts still listed and reachable); at most `size`. */
  capacity(): Promise<number>;
  /** Where the launcher's own lines go (default: stderr). */
  log?: (line: string) => void;
  /** Where the summary line and the --json line go (default: stdout). */
  print?: (line: string) => void;
}

/** One start of the job, as the summary and --json report it. */
export interface SegmentReport {
  ranks: number;
  start_step: number;
  /** The last step metrics.jsonl shows for it. */
  end_step: number;
  failure: string | null;
}

/** The elastic part of the final summary and of --json's line. */
export interface ElasticReport {
  restarts: number;
  lost_steps: number;
  segments: SegmentReport[];
}

/** A run ends here: success, a failure that a restart would not mend, or the restarts used up. */
const NOT_RESTARTED = new Set([0, 2, 130, 143]);

/** The last step metrics.jsonl records (its train and eval lines; 0 when none). */
export function lastLoggedStep(runDir: string): number {
  const path = join(runDir, "metrics.jsonl");
  if (!existsSync(path)) return 0;
  let last = 0;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    try {
      const record = JSON.parse(line) as { type?: string; step?: number };
      if ((record.type === "train" || record.type === "eval") && typeof record.step === "number") last = Math.max(last, record.step);
    } catch {
      // a blank line, or one cut short by the crash
    }
  }
  return last;
}

/** The newest checkpoint of the run that verifies (the one its ranks will resume from), or null. */
function newestCompleteCheckpoint(runDir: string, log: (line: string) => void): { dir: string; step: number } | null {
  try {
    const checkpoint = loadLatestCheckpoint(join(runDir, "checkpoints"), (message) => log(`launch: ${message}`));
    checkpoint.close();
    return { dir: checkpoint.dir, step: checkpoint.meta.step };
  } catch (error) {
    if (error instanceof CheckpointError) return null;
    throw error;
  }
}

/** Writes the batch layout of the next segment into the run's config.json (restarts train that config). */
function writeLayout(runDir: string, layout: BatchLayout): void {
  const file = join(runDir, "config.json");
  const config = JSON.parse(readFileSync(file, "utf8")) as { train: { accumulate: number }; data: { batchSize: number }; parallel?: { data?: number } };
  config.train.accumulate = layout.accumulate;
  config.data.batchSize = layout.batchSize;
  // A data-parallel degree given by hand follows the ranks; left out, it is derived from them.
  if (config.parallel?.data !== undefined) config.parallel.data = layout.ranks;
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

/** The summary line of an elastic run, e.g. "elastic: 1 restart, 3 steps lost; segments: 2 ranks steps 0–7 (rank 1: ...), 2 ranks steps 4–20". */
export function formatElastic(report: ElasticReport): string {
  const segments = report.segments.map((s) => `${plural(s.ranks, "rank")} steps ${s.start_step}–${s.end_step}${s.failure ? ` (${s.failure})` : ""}`);
  return `elastic: ${plural(report.restarts, "restart")}, ${plural(report.lost_steps, "step")} lost; segments: ${segments.join(", ")}`;
}

/**
 * Runs `job` until a segment succeeds, a failure a restart cannot mend ends it (usage, Ctrl-C,
 * SIGTERM: its own code) or the restarts are used up (exit 1 naming the last failure). Before
 * each segment a `{"type":"segment"}` line goes to metrics.jsonl; at the end the summary line
 * goes to stdout, then the held-back --json line with an `elastic` field.
 * @example process.exitCode = await runElastic(job, { maxRestarts: 3, minRanks: 2 });
 */
export async function runElastic(job: ElasticJob, limits: ElasticLimits): Promise<number> {
  const log = job.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const print = job.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const metrics = new MetricsFile(join(job.runDir, "metrics.jsonl"));
  const report: ElasticReport = { restarts: 0, lost_steps: 0, segments: [] };
  const resumed = existsSync(join(job.runDir, "config.json")) ? newestCompleteCheckpoint(job.runDir, log) : null;
  let ranks = job.size;
  let startStep = resumed?.step ?? 0;
  let from: string | null = null;
  let event: { reason: string | null; lost_steps: number; change: string | null } = { reason: null, lost_steps: 0, change: null };
  for (;;) {
    const segment: ElasticSegment = { runDir: job.runDir, restart: report.segments.length > 0, from };
    const line = {
      type: "segment",
      time: new Date().toISOString(),
      step: startStep,
      segment: report.segments.length,
      ranks,
      restarts: report.restarts,
      ...event,
    };
    writeFileSync(metrics.path, `${JSON.stringify(line)}\n`, { flag: "a" });
    let json: string | null = null;
    const end: JobEnd = await job.start(ranks, { [ELASTIC_ENV]: JSON.stringify(segment) }, (l) => (json = l)).done;
    const reached = lastLoggedStep(job.runDir);
    report.segments.push({ ranks, start_step: startStep, end_step: reached, failure: end.failure });
    if (end.code === 0) {
      print(formatElastic(report));
      if (json !== null) print(JSON.stringify({ ...JSON.parse(json), elastic: report }));
      return 0;
    }
    if (NOT_RESTARTED.has(end.code)) return end.code;
    const failure = end.failure ?? `exit code ${end.code}`;
    if (report.restarts >= limits.maxRestarts) {
      log(`turbine: launch: the job failed and its restarts are used up (--max-restarts ${limits.maxRestarts}); last failure: ${failure}`);
      return 1;
    }
    const newest = newestCompleteCheckpoint(job.runDir, log);
    from = newest?.dir ?? null;
    startStep = newest?.step ?? 0;
    const lost = Math.max(0, reached - startStep);
    // The steps after the checkpoint are trained again: their lines go, as a resume drops them.
    metrics.truncateAfter(startStep);
    // Whole replicas only: a tensor- or pipeline-parallel model needs all of its ranks.
    const available = Math.floor(Math.min(job.size, await job.capacity()) / job.replica) * job.replica;
    if (available < limits.minRanks) {
      log(`turbine: launch: only ${plural(available, "rank")} of ${job.size} can restart, fewer than --min-ranks ${limits.minRanks}; last failure: ${failure}`);
      return 1;
    }
    let change: string | null = null;
    if (available !== ranks) {
      const relayout = keepGlobalBatch(job.layout, available / job.replica);
      writeLayout(job.runDir, relayout.layout);
      change = relayout.change ?? `world size ${ranks} → ${available}`;
      log(`launch: ${change}`);
    }
    report.restarts++;
    report.lost_steps += lost;
    ranks = available;
    event = { reason: failure, lost_steps: lost, change };
    log(
      `launch: ${failure}; restart ${report.restarts} of ${limits.maxRestarts} on ${plural(ranks, "rank")} from ${from ?? "step 0 (no complete checkpoint yet)"}, ${plural(lost, "step")} lost`,
    );
  }
}
