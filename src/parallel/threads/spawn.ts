import { availableParallelism } from "node:os";
import type { Readable } from "node:stream";
import { Worker } from "node:worker_threads";

import { rankPrefix } from "../rank_output.js";

import { createWorldSpec, markDead, spinBudgetMs, type ThreadsWorldOptions } from "./world.js";

export interface RunThreadsOptions extends ThreadsWorldOptions {
  /** Ranks, one worker thread each. */
  size: number;
  /** A module exporting `run(group, args)` (sync or async); its result comes back per rank. */
  module: URL | string;
  /** Passed to every rank's `run` (structured-cloneable). */
  args?: unknown;
  /** OpenMP threads of each worker (default 1). */
  threadsPerWorker?: number;
  /** Each line a worker prints, with its rank and the stream it went to (default: stderr with a "[rank r] " prefix). */
  onLine?: (rank: number, line: string, stream: "stdout" | "stderr") => void;
  /** Called as each rank ends, in the order they end (the first failure is usually the cause of the others). */
  onRankEnd?: (outcome: RankOutcome) => void;
}

/** How one rank ended: its run's result, or the error that ended it. */
export type RankOutcome = { rank: number; ok: true; result: unknown } | { rank: number; ok: false; error: Error; exitCode: number };

/** What a worker posts when its run ends. */
export type WorkerReport = { ok: true; result: unknown } | { ok: false; name: string; message: string; stack?: string };

/** The running job: its workers (a test may terminate one) and its outcome. */
export interface ThreadsJob {
  workers: Worker[];
  done: Promise<RankOutcome[]>;
}

/**
 * Calls `emit` with each line of a text stream (the last one also without its newline).
 * @example forwardLines(child.stdout, (line) => console.log(`[child] ${line}`));
 */
export function forwardLines(stream: Readable, emit: (line: string) => void): void {
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const lines = (pending + chunk).split("\n");
    pending = lines.pop()!;
    for (const line of lines) emit(line);
  });
  stream.on("end", () => {
    if (pending) emit(pending);
  });
}

/**
 * Starts a `threads` job: the shared memory, one worker thread per rank running
 * `module.run(group, args)`, and supervision. When a worker exits (an error, a
 * `terminate()`), its rank is marked dead at once so every peer's pending or next collective
 * fails with a CollectiveError naming it, instead of waiting for the timeout. The returned
 * promise settles when every worker has exited.
 *
 * @example
 * const job = startThreads({ size: 2, module: new URL("./train_rank.js", import.meta.url), args: { steps: 10 } });
 * const outcomes = await job.done;   // [{ rank: 0, ok: true, result: ... }, { rank: 1, ... }]
 */
export function startThreads(options: RunThreadsOptions): ThreadsJob {
  const threads = options.threadsPerWorker ?? 1;
  if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError(`threads backend: threadsPerWorker must be a positive integer, got ${threads}`);
  // Waits spin briefly where every rank's threads have a core (a wake-up from sleep is slower).
  const spec = createWorldSpec(options.size, { ...options, spinMs: options.spinMs ?? spinBudgetMs(options.size, threads, availableParallelism()) });
  const onLine = options.onLine ?? ((rank: number, line: string) => process.stderr.write(`${rankPrefix(rank)}${line}\n`));
  const entry = new URL("./worker_main.js", import.meta.url);
  const module = options.module instanceof URL ? options.module.href : options.module;
  const workers: Worker[] = [];
  const outcomes = Array.from(
    { length: options.size },
    (_, rank) =>
      new Promise<RankOutcome>((resolve) => {
        const worker = new Worker(entry, {
          workerData: { turbineThreads: { spec, rank, threads, module, args: options.args } },
          stdout: true,
          stderr: true,
        });
        workers.push(worker);
        forwardLines(worker.stdout, (line) => onLine(rank, line, "stdout"));
        forwardLines(worker.stderr, (line) => onLine(rank, line, "stderr"));
        let report: WorkerReport | null = null;
        let crash: Error | null = null;
        worker.on("message", (message: WorkerReport) => (report = message));
        worker.on("error", (error) => (crash = error));
        worker.on("exit", (code) => {
          markDead(spec, rank, code);
          const r = report as WorkerReport | null;
          const error =
            r && !r.ok ? Object.assign(new Error(r.message), { name: r.name, stack: r.stack }) : (crash ?? new Error(`rank ${rank} exited with code ${code}`));
          const outcome: RankOutcome = r?.ok ? { rank, ok: true, result: r.result } : { rank, ok: false, error, exitCode: code };
          options.onRankEnd?.(outcome);
          resolve(outcome);
        });
      }),
  );
  return { workers, done: Promise.all(outcomes) };
}
