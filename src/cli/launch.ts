import { spawn } from "node:child_process";
import { availableParallelism, constants } from "node:os";
import { fileURLToPath } from "node:url";

import { type Command, CommanderError } from "commander";

import { BACKEND_ENV, TIMEOUT_ENV } from "../parallel/init.js";
import { OPEN_MPI_DAEMON_OPTIONS } from "../parallel/mpi/daemon_options.js";
import { isJsonLine, rankPrefix } from "../parallel/rank_output.js";
import { startThreads } from "../parallel/threads/spawn.js";
import { MAX_THREAD_RANKS } from "../parallel/threads/world.js";
import { MAX_KERNEL_THREADS } from "../train/config.js";
import { PROGRESS_ENV, progressMode } from "../train/progress_output.js";
import { UsageError } from "./errors.js";
import { readHostfile } from "./hostfile.js";
import type { RankResult } from "./launch_rank.js";

/** The options of `turbine launch`, as commander gives them. */
export interface LaunchOptions {
  n?: string;
  nprocPerNode?: string;
  nnodes?: string;
  backend: string;
  hostfile?: string;
  threadsPerWorker?: string;
  timeout: string;
}

/** Said when an option of the rank's command comes before it: the command goes after `--`. */
export const LAUNCH_SEPARATOR_HINT = "put the command each rank runs after --, e.g. turbine launch -n 2 -- train gpt-char --set train.steps=100";

function positiveInt(value: string | undefined, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`launch: ${flag} must be a positive integer, got ${JSON.stringify(value)}`, "see turbine launch --help");
  if (n > max) throw new UsageError(`launch: ${flag} must be at most ${max}, got ${n}`, "see turbine launch --help");
  return n;
}

/** How many ranks, and where: on this machine, on the listed hosts, or as mpirun decides (a hostfile or a Slurm allocation). */
export interface JobShape {
  size: number;
  /** mpirun's placement arguments (empty: this machine, or mpirun's own discovery). */
  placement: string[];
}

/**
 * The job's shape from -n, --nproc-per-node, --nnodes and --hostfile, checked before anything
 * starts. Given per node, ranks are placed `--nproc-per-node` on each of the first `--nnodes`
 * hosts of the hostfile (all of them by default), or, inside a Slurm allocation without a
 * hostfile, on each of its nodes.
 * @example jobShape({ backend: "mpi", nprocPerNode: "2", nnodes: "2", hostfile: "hosts", timeout: "300" }) // { size: 4, placement: ["--host", "node1:2,node2:2"] }
 */
export function jobShape(opts: LaunchOptions, env: NodeJS.ProcessEnv = process.env): JobShape {
  const n = opts.n === undefined ? undefined : positiveInt(opts.n, "-n");
  let perNode = opts.nprocPerNode === undefined ? undefined : positiveInt(opts.nprocPerNode, "--nproc-per-node");
  let nodes = opts.nnodes === undefined ? undefined : positiveInt(opts.nnodes, "--nnodes");
  if (n === undefined && perNode === undefined)
    throw new UsageError("launch: how many ranks? give -n N (in all) or --nproc-per-node N", "see turbine launch --help");
  if (opts.backend === "threads") {
    if (opts.hostfile !== undefined) throw new UsageError("launch: --hostfile needs --backend mpi", "the threads backend runs on this machine");
    if ((nodes ?? 1) > 1) throw new UsageError(`launch: --nnodes ${nodes} needs --backend mpi`, "the threads backend runs on this machine");
    if (n !== undefined && perNode !== undefined && n !== perNode)
      throw new UsageError(`launch: -n ${n} and --nproc-per-node ${perNode} disagree on one machine`, "give one of them");
    const size = (n ?? perNode)!;
    if (size > MAX_THREAD_RANKS)
      throw new UsageError(`launch: the threads backend runs at most ${MAX_THREAD_RANKS} ranks, got ${size}`, "use --backend mpi for more");
    return { size, placement: [] };
  }
  const hosts = opts.hostfile === undefined ? undefined : readHostfile(opts.hostfile);
  if (perNode === undefined && nodes === undefined) return { size: n!, placement: hosts ? ["--hostfile", opts.hostfile!] : [] };
  nodes ??= hosts?.length ?? 1;
  if (perNode === undefined) {
    if (n! % nodes !== 0) throw new UsageError(`launch: -n ${n} ranks do not divide over --nnodes ${nodes}`, "give --nproc-per-node instead");
    perNode = n! / nodes;
  }
  const size = perNode * nodes;
  if (n !== undefined && n !== size)
    throw new UsageError(
      `launch: -n ${n} disagrees with --nnodes ${nodes} × --nproc-per-node ${perNode} = ${size}`,
      "give -n or the per-node counts, not both",
    );
  if (hosts === undefined) {
    if (nodes === 1) return { size, placement: [] };
    if (env.SLURM_JOB_ID !== undefined) return { size, placement: ["--map-by", `ppr:${perNode}:node`] };
    throw new UsageError(
      `launch: --nnodes ${nodes} needs --hostfile (or a Slurm allocation)`,
      "list the machines in an Open MPI hostfile: one HOST [slots=N] per line",
    );
  }
  if (hosts.length < nodes)
    throw new UsageError(`launch: --hostfile ${opts.hostfile} lists ${hosts.length} host(s); --nnodes ${nodes} needs ${nodes}`, "add hosts or lower --nnodes");
  const used = hosts.slice(0, nodes);
  for (const h of used) {
    if (h.slots !== undefined && h.slots < perNode) {
      throw new UsageError(
        `launch: ${opts.hostfile}:${h.line}: ${h.name} has slots=${h.slots}, fewer than --nproc-per-node ${perNode}`,
        "raise its slots or lower --nproc-per-node",
      );
    }
  }
  return { size, placement: ["--host", used.map((h) => `${h.name}:${perNode}`).join(",")] };
}

/**
 * Threads backend: one process, a worker thread per rank running the command, logs prefixed
 * with "[rank r] ". A failure every rank shares (a bad config, say) is printed once; the exit
 * code is that of the lowest failed rank (2 for usage, 1 for a failed run).
 */
async function launchThreads(size: number, threads: number, timeoutMs: number, argv: string[]): Promise<number> {
  // A rank's stdout goes to stdout, its stderr to stderr, each line tagged with its rank but JSON (--json's summary).
  const onLine = (rank: number, line: string, stream: "stdout" | "stderr"): void => {
    if (stream === "stdout") process.stdout.write(isJsonLine(line) ? `${line}\n` : `${rankPrefix(rank)}${line}\n`);
    else process.stderr.write(`${rankPrefix(rank)}${line}\n`);
  };
  const job = startThreads({ size, threadsPerWorker: threads, timeoutMs, module: new URL("./launch_rank.js", import.meta.url), args: { argv }, onLine });
  const results: (RankResult & { rank: number })[] = (await job.done).map((o) =>
    o.ok ? { rank: o.rank, ...(o.result as RankResult) } : { rank: o.rank, code: 1, message: o.error.message },
  );
  const failures = results.filter((r) => r.code !== 0);
  if (failures.length === 0) return 0;
  const shared = failures.length === size && failures.every((f) => f.message === failures[0]!.message);
  for (const f of shared ? failures.slice(0, 1) : failures) {
    if (f.message !== undefined) process.stderr.write(`${shared ? "" : `[rank ${f.rank}] `}turbine: ${f.message}\n`);
  }
  return failures[0]!.code;
}

/** Open MPI backend: mpirun starts `node <cli> <command>` per rank with TURBINE_DIST_BACKEND=mpi. */
function launchMpi(shape: JobShape, threads: number | undefined, timeoutS: number, argv: string[]): Promise<number> {
  const cli = fileURLToPath(new URL("./main.js", import.meta.url));
  const exported = [BACKEND_ENV, TIMEOUT_ENV, PROGRESS_ENV, ...(threads ? ["OMP_NUM_THREADS"] : [])].flatMap((name) => ["-x", name]);
  const args = ["--allow-run-as-root", ...OPEN_MPI_DAEMON_OPTIONS, "-n", String(shape.size), ...shape.placement, ...exported];
  // A rank sees a pseudo-terminal even when the job's output goes to a file: the launcher's stderr decides bar or lines.
  const env = {
    ...process.env,
    [BACKEND_ENV]: "mpi",
    [TIMEOUT_ENV]: String(timeoutS),
    [PROGRESS_ENV]: progressMode(),
    ...(threads ? { OMP_NUM_THREADS: String(threads) } : {}),
  };
  const child = spawn("mpirun", [...args, process.execPath, cli, ...argv], { stdio: "inherit", env });
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
  return new Promise((resolve, reject) => {
    child.on("error", (error) => reject(new Error(`launch: could not start mpirun (${error.message}); install Open MPI (apt-get install openmpi-bin)`)));
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward).off("SIGTERM", forward);
      resolve(stoppedBy ? 128 + constants.signals[stoppedBy] : (code ?? (signal ? 1 : 0)));
    });
  });
}

/**
 * `turbine launch -n N [--backend threads|mpi] [--hostfile F] -- COMMAND ...`: runs a turbine
 * command on N ranks, torchrun's way: each rank gets RANK, WORLD_SIZE, LOCAL_RANK and
 * LOCAL_WORLD_SIZE, and `train` trains data-parallel over the job. The config's batch size is
 * per rank (PyTorch DDP's convention), so the global batch is N × batchSize; rank 0 writes
 * metrics and checkpoints. The job's shape, the hostfile and the rank's command line (its config
 * too) are checked before any rank starts.
 * @example turbine launch --nnodes 2 --nproc-per-node 2 --backend mpi --hostfile hosts -- train gpt-char
 */
export function registerLaunch(program: Command, ranks: { commands: readonly string[]; check: (argv: string[]) => Promise<void> }): void {
  program
    .command("launch")
    .description("run a turbine command (train, bench, ...) on N ranks: worker threads on this machine, or Open MPI processes on many")
    .option("-n <ranks>", "ranks in all")
    .option("--nproc-per-node <N>", "ranks on each machine")
    .option("--nnodes <M>", "machines (mpi backend): the first M hosts of --hostfile (default: all of them), or of a Slurm allocation")
    .option("--backend <name>", "threads (one machine, shared memory) or mpi (Open MPI, many machines)", "threads")
    .option("--hostfile <file>", "Open MPI hostfile, one HOST [slots=N] per line (mpi backend)")
    .option("--threads-per-worker <T>", "OpenMP threads per rank (default, threads backend: cores / N, at least 1)")
    .option("--timeout <seconds>", "fail a collective that waits longer than this, on either backend", "300")
    .argument("<command...>", "the command each rank runs, after --, e.g. -- train gpt-char")
    .passThroughOptions()
    .action(async (command: string[], opts: LaunchOptions) => {
      if (opts.backend !== "threads" && opts.backend !== "mpi")
        throw new UsageError(`launch: --backend must be threads or mpi, got ${JSON.stringify(opts.backend)}`, "see turbine launch --help");
      const shape = jobShape(opts);
      if (!ranks.commands.includes(command[0]!)) {
        throw new UsageError(
          `launch: each rank runs a turbine command (${ranks.commands.join(", ")}), got ${JSON.stringify(command.join(" "))}`,
          LAUNCH_SEPARATOR_HINT,
        );
      }
      try {
        await ranks.check(command);
      } catch (error) {
        // The rank's command asked for its help, printed once here: nothing to launch.
        if (error instanceof CommanderError && error.exitCode === 0) return;
        throw error;
      }
      const threads = opts.threadsPerWorker === undefined ? undefined : positiveInt(opts.threadsPerWorker, "--threads-per-worker", MAX_KERNEL_THREADS);
      const timeoutS = positiveInt(opts.timeout, "--timeout");
      // train uses every core by default; a rank gets its share.
      const withThreads = (t: number | undefined): string[] =>
        t !== undefined && command[0] === "train" ? [...command, "--set", `train.threads=${t}`] : command;
      if (opts.backend === "threads") {
        const perWorker = threads ?? Math.max(1, Math.floor(availableParallelism() / shape.size));
        process.exitCode = await launchThreads(shape.size, perWorker, timeoutS * 1000, withThreads(perWorker));
      } else {
        process.exitCode = await launchMpi(shape, threads, timeoutS, withThreads(threads));
      }
    });
}
