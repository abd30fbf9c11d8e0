import { availableParallelism } from "node:os";
import { join } from "node:path";

import { type Command, CommanderError } from "commander";

import { MAX_THREAD_RANKS } from "../parallel/threads/world.js";
import { MAX_KERNEL_THREADS } from "../train/config.js";
import { checkMemoryFloor } from "../train/memory_floor.js";
import { newRunFolder, resumeTarget, writeRunConfig } from "../train/run_folder.js";
import { type ElasticLimits, elasticLimits, runElastic } from "./elastic.js";
import { type MpiPlacement, type PlacedHost, restartPlacement } from "./elastic_hosts.js";
import { UsageError } from "./errors.js";
import { readHostfile } from "./hostfile.js";
import { type JobStart, type RunningJob, startMpiJob, startThreadsJob } from "./launch_jobs.js";
import type { TrainCommand } from "./train.js";

/** The options of `turbine launch`, as commander gives them. */
export interface LaunchOptions {
  n?: string;
  nprocPerNode?: string;
  nnodes?: string;
  backend: string;
  hostfile?: string;
  threadsPerWorker?: string;
  timeout: string;
  maxRestarts?: string;
  minRanks?: string;
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
  /** The machines and their ranks, where known (a restart leaves out the ones that are gone). */
  hosts?: PlacedHost[];
}

/** Open MPI's default placement of `size` ranks over hosts that all give slots= (filled in order); undefined otherwise. */
function slotPlacement(hosts: { name: string; slots?: number }[], size: number): PlacedHost[] | undefined {
  if (hosts.some((h) => h.slots === undefined)) return undefined;
  const placed: PlacedHost[] = [];
  let left = size;
  for (const h of hosts) {
    if (left === 0) break;
    placed.push({ name: h.name, ranks: Math.min(h.slots!, left) });
    left -= placed.at(-1)!.ranks;
  }
  return left === 0 ? placed : undefined;
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
  if (perNode === undefined && nodes === undefined) {
    if (hosts === undefined) return { size: n!, placement: [] };
    const placed = slotPlacement(hosts, n!);
    return { size: n!, placement: ["--hostfile", opts.hostfile!], ...(placed ? { hosts: placed } : {}) };
  }
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
  return { size, placement: ["--host", used.map((h) => `${h.name}:${perNode}`).join(",")], hosts: used.map((h) => ({ name: h.name, ranks: perNode })) };
}

/** The most ranks of the job on one machine: all of them on the threads backend or mpi without hosts, the fullest host's where known, else 1. */
function ranksPerMachine(shape: JobShape, backend: string): number {
  if (backend === "threads" || shape.placement.length === 0) return shape.size;
  return shape.hosts ? Math.max(...shape.hosts.map((h) => h.ranks)) : 1;
}

/** Starts the job's ranks on its backend: `ranks` of them, placed as `placement` says (mpi). */
type StartJob = (ranks: number, placement: readonly string[], start: JobStart) => RunningJob;

/**
 * The elastic run of a train command: its run folder (made here, so that every segment writes
 * into the same one; a resumed run's own) and the restart loop. An mpi restart leaves out the
 * hosts that are gone (no longer in the hostfile, or unreachable).
 */
function launchElastic(opts: LaunchOptions, shape: JobShape, train: TrainCommand, limits: ElasticLimits, startJob: StartJob, start: JobStart): Promise<number> {
  const { config } = train;
  const runDir = train.resume !== undefined ? resumeTarget(train.resume).runDir : newRunFolder(join(config.outDir, config.name ?? config.model.kind));
  // Written here, not only by rank 0 when it starts: a rank killed before that would leave a
  // restart nothing to train (the 2026-12-03 elastic bench lost 4 of 20 runs that way).
  if (train.resume === undefined) writeRunConfig(runDir, config);
  const first: MpiPlacement = { size: shape.size, placement: shape.placement };
  const replica = config.parallel.tensor * config.parallel.pipeline;
  let current = first;
  const capacity = async (): Promise<number> => {
    if (opts.backend === "threads") return shape.size;
    try {
      current = restartPlacement(shape.hosts, opts.hostfile, first);
    } catch (error) {
      // The hostfile became unreadable or wrong: no host can be counted on.
      process.stderr.write(`${(error as Error).message}\n`);
      return 0;
    }
    return current.size;
  };
  return runElastic(
    {
      size: shape.size,
      runDir,
      layout: { ranks: shape.size / replica, batchSize: config.data.batchSize, accumulate: config.train.accumulate },
      replica,
      start: (ranks, env, onJsonLine) => startJob(ranks, current.placement, { ...start, env, onJsonLine }),
      capacity,
    },
    limits,
  );
}

/**
 * `turbine launch -n N [--backend threads|mpi] [--hostfile F] -- COMMAND ...`: runs a turbine
 * command on N ranks, torchrun's way: each rank gets RANK, WORLD_SIZE, LOCAL_RANK and
 * LOCAL_WORLD_SIZE, and `train` trains data-parallel over the job. The config's batch size is
 * per rank (PyTorch DDP's convention), so the global batch is N × batchSize; rank 0 writes
 * metrics and checkpoints. The job's shape, the hostfile and the rank's command line (its config
 * too) are checked before any rank starts. With `--max-restarts K` a train run that loses a
 * rank restarts from its newest complete checkpoint (src/cli/elastic.ts).
 * @example turbine launch -n 4 --max-restarts 3 --min-ranks 2 -- train gpt-char
 * @example turbine launch --nnodes 2 --nproc-per-node 2 --backend mpi --hostfile hosts -- train gpt-char
 */
export function registerLaunch(program: Command, ranks: { commands: readonly string[]; check: (argv: string[]) => Promise<TrainCommand | null> }): void {
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
    .option(
      "--max-restarts <K>",
      "train: when a rank dies or a collective times out, end the others and restart the job up to K times from the run's newest complete checkpoint (the steps since it, up to checkpoint.every, are trained again)",
    )
    .option(
      "--min-ranks <M>",
      "with --max-restarts: restart on fewer ranks (at least M) when some cannot come back (mpi: a host gone from the hostfile or unreachable), keeping the global batch by accumulation where it divides (default: all ranks)",
    )
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
      const limits = elasticLimits(opts, shape.size);
      let train: TrainCommand | null;
      try {
        train = await ranks.check(command);
      } catch (error) {
        // The rank's command asked for its help, printed once here: nothing to launch.
        if (error instanceof CommanderError && error.exitCode === 0) return;
        throw error;
      }
      // A config too large for the machines is refused once, here, before any rank builds it.
      if (train !== null) checkMemoryFloor(train.config, { ranks: shape.size, ranksHere: ranksPerMachine(shape, opts.backend) });
      const threads = opts.threadsPerWorker === undefined ? undefined : positiveInt(opts.threadsPerWorker, "--threads-per-worker", MAX_KERNEL_THREADS);
      const timeoutS = positiveInt(opts.timeout, "--timeout");
      // train uses every core by default; a rank gets its share.
      const withThreads = (t: number | undefined): string[] =>
        t !== undefined && command[0] === "train" ? [...command, "--set", `train.threads=${t}`] : command;
      const perWorker = opts.backend === "threads" ? (threads ?? Math.max(1, Math.floor(availableParallelism() / shape.size))) : threads;
      const start: JobStart = { argv: withThreads(perWorker), env: {}, timeoutS, ...(perWorker !== undefined ? { threads: perWorker } : {}) };
      const startJob: StartJob = (size, placement, s) =>
        opts.backend === "threads" ? startThreadsJob(size, { ...s, threads: perWorker! }) : startMpiJob(size, placement, s, limits !== null);
      if (limits === null) {
        process.exitCode = (await startJob(shape.size, shape.placement, start).done).code;
        return;
      }
      if (train === null)
        throw new UsageError(`launch: --max-restarts restarts a train run, got ${JSON.stringify(command.join(" "))}`, "drop --max-restarts, or launch train");
      process.exitCode = await launchElastic(opts, shape, train, limits, startJob, start);
    });
}
