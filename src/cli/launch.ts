import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";

import type { Command } from "commander";

import { BACKEND_ENV } from "../parallel/init.js";
import { startThreads } from "../parallel/threads/spawn.js";
import { OPEN_MPI_DAEMON_OPTIONS } from "../parallel/mpi/daemon_options.js";
import { PROGRESS_ENV, progressMode } from "../train/progress_output.js";

interface LaunchOptions {
  n: string;
  backend: string;
  hostfile?: string;
  threadsPerWorker?: string;
  timeout: string;
}

function positiveInt(value: string | undefined, flag: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new LaunchUsageError(`launch: ${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

/** A bad launch command line (exit code 2). */
export class LaunchUsageError extends Error {}

/**
 * Threads backend: one process, a worker thread per rank running the command, logs prefixed
 * with "[rank r] ". Resolves with the exit code: 0 when every rank succeeded.
 */
async function launchThreads(size: number, threads: number, timeoutMs: number, argv: string[]): Promise<number> {
  const job = startThreads({ size, threadsPerWorker: threads, timeoutMs, module: new URL("./launch_rank.js", import.meta.url), args: { argv } });
  const outcomes = await job.done;
  let failed = 0;
  for (const o of outcomes) {
    if (o.ok) continue;
    failed++;
    process.stderr.write(`[rank ${o.rank}] failed: ${o.error.message}\n`);
  }
  return failed === 0 ? 0 : 1;
}

/** Open MPI backend: mpirun starts `node <cli> <command>` per rank with TURBINE_DIST_BACKEND=mpi. */
function launchMpi(size: number, hostfile: string | undefined, threads: number | undefined, argv: string[]): Promise<number> {
  const cli = fileURLToPath(new URL("./main.js", import.meta.url));
  const args = ["--allow-run-as-root", ...OPEN_MPI_DAEMON_OPTIONS, "-n", String(size), ...(hostfile ? ["--hostfile", hostfile] : []), "-x", BACKEND_ENV, "-x", PROGRESS_ENV, ...(threads ? ["-x", "OMP_NUM_THREADS"] : [])];
  // A rank sees a pseudo-terminal even when the job's output goes to a file: the launcher's stderr decides bar or lines.
  const env = { ...process.env, [BACKEND_ENV]: "mpi", [PROGRESS_ENV]: progressMode(), ...(threads ? { OMP_NUM_THREADS: String(threads) } : {}) };
  const child = spawn("mpirun", [...args, process.execPath, cli, ...argv], { stdio: "inherit", env });
  return new Promise((resolve, reject) => {
    child.on("error", (error) => reject(new Error(`launch: could not start mpirun (${error.message}); install Open MPI (apt-get install openmpi-bin)`)));
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/**
 * `turbine launch -n N [--backend threads|mpi] [--hostfile F] [--threads-per-worker T] -- train CONFIG`:
 * data-parallel training on N ranks. The config's batch size is per rank (PyTorch DDP's
 * convention), so the global batch is N × batchSize; rank 0 writes metrics and checkpoints.
 */
export function registerLaunch(program: Command): void {
  program
    .command("launch")
    .description("run a turbine command (train) on N data-parallel ranks: worker threads on this machine, or Open MPI processes")
    .requiredOption("-n <ranks>", "number of ranks")
    .option("--backend <name>", "threads (one machine, shared memory) or mpi (Open MPI, many machines)", "threads")
    .option("--hostfile <file>", "Open MPI hostfile (mpi backend)")
    .option("--threads-per-worker <T>", "OpenMP threads per rank (default: cores / N, at least 1)")
    .option("--timeout <seconds>", "fail a collective that waits longer than this (threads backend)", "300")
    .argument("<command...>", "the command each rank runs, after --, e.g. -- train examples/mlp.json")
    .action(async (command: string[], opts: LaunchOptions) => {
      const size = positiveInt(opts.n, "-n");
      if (command[0] !== "train") throw new LaunchUsageError(`launch: each rank runs \`train CONFIG ...\`, got ${JSON.stringify(command.join(" "))}`);
      const threads = opts.threadsPerWorker === undefined ? undefined : positiveInt(opts.threadsPerWorker, "--threads-per-worker");
      let code: number;
      if (opts.backend === "threads") {
        if (opts.hostfile) throw new LaunchUsageError("launch: --hostfile needs --backend mpi");
        const perWorker = threads ?? Math.max(1, Math.floor(availableParallelism() / size));
        const timeoutMs = positiveInt(opts.timeout, "--timeout") * 1000;
        code = await launchThreads(size, perWorker, timeoutMs, [...command, "--set", `train.threads=${perWorker}`]);
      } else if (opts.backend === "mpi") {
        code = await launchMpi(size, opts.hostfile, threads, threads ? [...command, "--set", `train.threads=${threads}`] : command);
      } else {
        throw new LaunchUsageError(`launch: --backend must be threads or mpi, got ${JSON.stringify(opts.backend)}`);
      }
      process.exitCode = code;
    });
}
