import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { TypedArray } from "../../tensor/dtype.js";
import { packageRoot } from "../../package_root.js";

/** The turbine_mpi addon (native/mpi): non-blocking MPI operations returning request ids. */
export interface MpiAddon {
  /** MPI_Init_thread once; this process's world rank, the world size and the host name. */
  init(): { rank: number; size: number; host: string };
  /** MPI_Comm_split of `comm`; the new communicator's id, or -1 where `color` < 0. */
  split(comm: number, color: number, key: number): number;
  /** Frees a communicator (the world's id 0 is only forgotten). */
  free(comm: number): void;
  /**
   * In-place MPI_Iallreduce; reduce codes 0 sum, 1 mean, 2 max. Every operation ends with
   * `async`: true lets the background thread progress it; false leaves that to wait().
   */
  allReduce(comm: number, data: TypedArray, dtype: number, op: number, async: boolean): number;
  reduceScatter(comm: number, output: TypedArray, input: TypedArray, dtype: number, op: number, async: boolean): number;
  allGather(comm: number, output: TypedArray, input: TypedArray, dtype: number, async: boolean): number;
  broadcast(comm: number, data: TypedArray, dtype: number, root: number, async: boolean): number;
  send(comm: number, data: TypedArray, dtype: number, peer: number, tag: number, async: boolean): number;
  recv(comm: number, data: TypedArray, dtype: number, peer: number, tag: number, async: boolean): number;
  barrier(comm: number, async: boolean): number;
  /** Progresses every request; true once `request` is no longer in flight. */
  test(request: number): boolean;
  /** Progresses until `request` completes (true) or `timeoutMs` passes (false). */
  wait(request: number, timeoutMs: number): boolean;
  /** Forgets a finished request: null on success, MPI's error text on failure. */
  take(request: number): string | null;
  /** MPI_Finalize; false (skipped) while a request is stuck in flight. */
  finalize(): boolean;
}

let addon: MpiAddon | null = null;

/**
 * The mpi addon, loaded on first use so that turbine runs without Open MPI installed.
 * @example const mpi = loadMpiAddon(); const { rank, size } = mpi.init();
 */
export function loadMpiAddon(): MpiAddon {
  if (addon !== null) return addon;
  const path = join(packageRoot(), "build", "Release", "turbine_mpi.node");
  if (!existsSync(path)) {
    throw new Error(
      "turbine: the mpi backend needs the optional addon build/Release/turbine_mpi.node, which is built only " +
        "where Open MPI is installed: install Debian's libopenmpi-dev and openmpi-bin (scripts/setup.sh does), " +
        "then rebuild with `npm run build`",
    );
  }
  addon = createRequire(import.meta.url)(path) as MpiAddon;
  return addon;
}
