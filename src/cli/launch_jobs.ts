import { spawn } from "node:child_process";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";

import { BACKEND_ENV, TIMEOUT_ENV } from "../parallel/init.js";
import { OPEN_MPI_DAEMON_OPTIONS } from "../parallel/mpi/daemon_options.js";
import { isJsonLine, rankPrefix } from "../parallel/rank_output.js";
import { forwardLines, type RankOutcome, startThreads, type ThreadsJob } from "../parallel/threads/spawn.js";
import { PROGRESS_ENV, progressMode } from "../train/progress_output.js";
import type { RankResult } from "./launch_rank.js";

/**
 * One start of a launched job's ranks, on either backend: how it ended, the first failure in
 * words (the cause; the other ranks then fail on the dead peer) and a way to end it.
 */

/** How a job's ranks ended: the exit code `turbine launch` takes, and the first failure. */
export interface JobEnd {
  code: number;
  /** The first rank failure ("rank 1: rank 1 exited with code 1", or mpirun's notice); null when all succeeded. */
  failure: string | null;
}

/** What starting a job needs beyond its size. */
export interface JobStart {
  /** The command each rank runs, e.g. ["train", "gpt-char"]. */
  argv: string[];
  /** Extra environment of every rank. */
  env: Record<string, string>;
  /** OpenMP threads per rank (undefined on mpi: the ranks' default). */
  threads?: number;
  timeoutS: number;
  /** Where each rank's JSON line (--json's summary) goes; default: stdout. */
  onJsonLine?: (line: string) => void;
}

/** A running job: its end, and (threads) its workers, which a test may terminate. */
export interface RunningJob {
  done: Promise<JobEnd>;
  workers?: ThreadsJob["workers"];
}

/** How long the other ranks get, after a rank failed, to fail on their own before they are ended. */
export const FAILURE_GRACE_MS = 10_000;

/** The "[rank r] message" of an ended rank, or null when it succeeded. */
function failureOf(outcome: RankOutcome): { code: number; message: string | undefined } | null {
  if (!outcome.ok) return { code: 1, message: outcome.error.message };
  const result = outcome.result as RankResult;
  return result.code === 0 ? null : { code: result.code, message: result.message };
}

/**
 * Threads backend: one worker thread per rank in this process, logs prefixed with "[rank r] ".
 * A failure every rank shares (a bad config, say) is printed once; the exit code is that of the
 * lowest failed rank (2 for usage, 1 for a failed run). Once a rank has failed, the others get
 * FAILURE_GRACE_MS to end (a collective with the dead rank fails at once) and are then ended.
 */
export function startThreadsJob(size: number, start: JobStart & { threads: number }): RunningJob {
  const onLine = (rank: number, line: string, stream: "stdout" | "stderr"): void => {
    if (stream === "stdout" && isJsonLine(line)) (start.onJsonLine ?? ((l: string) => process.stdout.write(`${l}\n`)))(line);
    else if (stream === "stdout") process.stdout.write(`${rankPrefix(rank)}${line}\n`);
    else process.stderr.write(`${rankPrefix(rank)}${line}\n`);
  };
  let first: string | null = null;
  let grace: NodeJS.Timeout | undefined;
  const job = startThreads({
    size,
    threadsPerWorker: start.threads,
    timeoutMs: start.timeoutS * 1000,
    module: new URL("./launch_rank.js", import.meta.url),
    args: { argv: start.argv, env: start.env },
    onLine,
    onRankEnd: (outcome) => {
      const failed = failureOf(outcome);
      if (failed === null || first !== null) return;
      first = `rank ${outcome.rank}: ${failed.message ?? `exit code ${failed.code}`}`;
      grace = setTimeout(() => job.workers.forEach((w) => void w.terminate()), FAILURE_GRACE_MS);
      grace.unref();
    },
  });
  const done = job.done.then((outcomes): JobEnd => {
    clearTimeout(grace);
    const failures = outcomes.flatMap((o) => {
      const f = failureOf(o);
      return f ? [{ rank: o.rank, ...f }] : [];
    });
    if (failures.length === 0) return { code: 0, failure: null };
    const shared = failures.length === size && failures.every((f) => f.message === failures[0]!.message);
    for (const f of shared ? failures.slice(0, 1) : failures) {
      if (f.message !== undefined) process.stderr.write(`${shared ? "" : `[rank ${f.rank}] `}turbine: ${f.message}\n`);
    }
    return { code: failures[0]!.code, failure: first };
  });
  return { done, workers: job.workers };
}

/** mpirun's own account of a rank's end, e.g. "process rank 1 with PID 77 on node a exited on signal 9 (Killed)". */
const MPIRUN_NOTICE = /mpirun (?:noticed that|has exited due to) (.*?)\.?$/;
/** A rank's "turbine: ..." error line. */
const RANK_ERROR = /^(\[rank \d+\]) turbine: (.*)$/;

/**
 * Open MPI backend: mpirun starts `node <cli> <command>` per rank with TURBINE_DIST_BACKEND=mpi.
 * With `capture`, the output passes through this process (stderr as it comes, stdout by lines
 * so JSON lines can be held back) and the first failure is read from it; otherwise mpirun
 * writes to the launcher's own stdout and stderr (a terminal stays a terminal).
 */
export function startMpiJob(size: number, placement: readonly string[], start: JobStart, capture: boolean): RunningJob {
  const cli = fileURLToPath(new URL("./main.js", import.meta.url));
  const names = [BACKEND_ENV, TIMEOUT_ENV, PROGRESS_ENV, ...Object.keys(start.env), ...(start.threads ? ["OMP_NUM_THREADS"] : [])];
  const args = ["--allow-run-as-root", ...OPEN_MPI_DAEMON_OPTIONS, "-n", String(size), ...placement, ...names.flatMap((name) => ["-x", name])];
  // A rank sees a pseudo-terminal even when the job's output goes to a file: the launcher's stderr decides bar or lines.
  const env = {
    ...process.env,
    ...start.env,
    [BACKEND_ENV]: "mpi",
    [TIMEOUT_ENV]: String(start.timeoutS),
    [PROGRESS_ENV]: progressMode(),
    ...(start.threads ? { OMP_NUM_THREADS: String(start.threads) } : {}),
  };
  const child = spawn("mpirun", [...args, process.execPath, cli, ...start.argv], { stdio: capture ? ["inherit", "pipe", "pipe"] : "inherit", env });
  let notice: string | null = null;
  let rankError: string | null = null;
  let running = true;
  let grace: NodeJS.Timeout | undefined;
  // mpirun ends the job when a rank fails, but waits without end for a daemon whose host became
  // unreachable: it gets FAILURE_GRACE_MS, then it is killed (its daemons on the hosts still
  // reachable end when it goes).
  const failed = (): void => {
    if (grace !== undefined) return;
    grace = setTimeout(() => {
      if (!running) return;
      process.stderr.write(`launch: mpirun has not ended ${FAILURE_GRACE_MS / 1000} s after a rank failed (a host unreachable?); ending it\n`);
      child.kill("SIGKILL");
    }, FAILURE_GRACE_MS);
    grace.unref();
  };
  if (capture) {
    child.stderr!.on("data", (chunk: string) => process.stderr.write(chunk));
    forwardLines(child.stderr!, (line) => {
      const m = MPIRUN_NOTICE.exec(line.trim());
      if (m) notice ??= `mpirun: ${m[1]}`;
      const r = RANK_ERROR.exec(line);
      if (r) rankError ??= `${r[1]} ${r[2]}`;
      if (m || r) failed();
    });
    forwardLines(child.stdout!, (line) => {
      if (isJsonLine(line) && start.onJsonLine) start.onJsonLine(line);
      else process.stdout.write(`${line}\n`);
    });
  }
  // Ctrl-C or SIGTERM: mpirun passes the stop on to the ranks (as SIGTERM), which save a
  // checkpoint and end; the launcher waits for them and exits as `train` would (130 or 143).
  // A Ctrl-C at the terminal reaches mpirun itself (it is in the launcher's process group), and
  // mpirun takes a second SIGINT as "kill the job now": only SIGTERM is passed on.
  let stoppedBy: NodeJS.Signals | null = null;
  const forward = (signal: NodeJS.Signals): void => {
    stoppedBy ??= signal;
    if (signal === "SIGTERM") child.kill(signal);
  };
  process.on("SIGINT", forward).on("SIGTERM", forward);
  const done = new Promise<JobEnd>((resolve, reject) => {
    child.on("error", (error) => reject(new Error(`launch: could not start mpirun (${error.message}); install Open MPI (apt-get install openmpi-bin)`)));
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (!running) return;
      running = false;
      clearTimeout(grace);
      process.off("SIGINT", forward).off("SIGTERM", forward);
      const exit = stoppedBy ? 128 + constants.signals[stoppedBy] : (code ?? (signal ? 1 : 0));
      resolve({ code: exit, failure: exit === 0 ? null : (notice ?? rankError ?? `mpirun exited with code ${exit}`) });
    };
    // "close" once the piped output has been read to its end; a process mpirun left behind may
    // hold the pipes open, so its exit also ends the job a moment later.
    child.on("close", finish);
    child.on("exit", (code, signal) => {
      const late = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, 2000);
      late.unref();
    });
  });
  return { done };
}
