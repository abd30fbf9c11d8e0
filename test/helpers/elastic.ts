import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The process id of rank `rank` of an mpi job whose ranks' environment mentions `marker` (a run
 * folder of `turbine launch --max-restarts`, unique to one test), from /proc; null when none is
 * running. Other jobs on the machine are never matched.
 * @example const pid = rankProcess(1, "/tmp/turbine-elastic-x"); if (pid) process.kill(pid, "SIGKILL");
 */
export function rankProcess(rank: number, marker: string): number | null {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string[];
    try {
      environ = readFileSync(`/proc/${entry}/environ`, "utf8").split("\0");
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    if (environ.includes(`OMPI_COMM_WORLD_RANK=${rank}`) && environ.some((v) => v.startsWith("TURBINE_ELASTIC=") && v.includes(marker))) return Number(entry);
  }
  return null;
}

/**
 * True while a checkpoint of the run in `runDir` is being written (saveCheckpoint's temporary
 * `.step-N.tmp-…` folder exists).
 * @example if (writingCheckpoint("runs/mlp/version_0")) process.kill(rank0, "SIGKILL");
 */
export function writingCheckpoint(runDir: string): boolean {
  const dir = join(runDir, "checkpoints");
  return existsSync(dir) && readdirSync(dir).some((n) => n.startsWith(".step-"));
}
