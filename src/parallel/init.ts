import type { ProcessGroup } from "./process_group.js";
import { inThreadsJob, threadsWorldGroup } from "./threads/join.js";

/** Set by `turbine launch --backend mpi` in every rank's environment. */
export const BACKEND_ENV = "TURBINE_DIST_BACKEND";

/** Set by `turbine launch` in every rank's environment: the collectives' timeout in seconds. */
export const TIMEOUT_ENV = "TURBINE_TIMEOUT_S";

/** True when this thread or process was started as a rank of a distributed job. */
export function inDistributedJob(): boolean {
  return inThreadsJob() || process.env[BACKEND_ENV] === "mpi";
}

/**
 * The world group of this rank, from how it was started: a worker of a `threads` job (turbine
 * launch, startThreads) gets the shared-memory group; a process started by `turbine launch
 * --backend mpi` (TURBINE_DIST_BACKEND=mpi) gets the Open MPI group, loaded only then, so the
 * optional mpi addon is needed only by those who use it. Its timeout is `options.timeoutMs`, else
 * the launcher's --timeout (TURBINE_TIMEOUT_S), else the backend's default.
 *
 * @example
 * const group = await initProcessGroup({ timeoutMs: 30_000 });
 * group.allReduce(grad, "mean");
 */
export async function initProcessGroup(options: { timeoutMs?: number } = {}): Promise<ProcessGroup> {
  if (inThreadsJob()) return threadsWorldGroup();
  const launched = Number(process.env[TIMEOUT_ENV]);
  if (options.timeoutMs === undefined && launched > 0) options = { timeoutMs: launched * 1000 };
  const backend = process.env[BACKEND_ENV];
  if (backend === "mpi") {
    const path = "./mpi/index.js";
    let mpi: { initMpiProcessGroup(options: { timeoutMs?: number }): ProcessGroup | Promise<ProcessGroup> };
    try {
      mpi = await import(path);
    } catch (error) {
      throw new Error(`initProcessGroup: mpi backend not built (${(error as Error).message})`);
    }
    return mpi.initMpiProcessGroup(options);
  }
  throw new Error(
    `initProcessGroup: not started as a distributed rank (no threads job, ${BACKEND_ENV}=${JSON.stringify(backend ?? null)}); ` +
      "start with `turbine launch -n N -- train CONFIG`",
  );
}
