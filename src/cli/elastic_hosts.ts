import { spawnSync } from "node:child_process";

import { OPEN_MPI_DAEMON_OPTIONS } from "../parallel/mpi/daemon_options.js";
import { readHostfile } from "./hostfile.js";

/** A machine of an mpi job and how many of its ranks it runs. */
export interface PlacedHost {
  name: string;
  ranks: number;
}

/** Where a restart of an mpi job runs: its size and mpirun's placement arguments. */
export interface MpiPlacement {
  size: number;
  placement: string[];
}

/** How long a host gets to answer before a restart counts it as gone. */
const PROBE_TIMEOUT_MS = 30_000;

/**
 * Whether Open MPI can start a process on `host` now: `mpirun --host HOST -n 1 true`, through the
 * same launch agent (ssh, or whatever OMPI_MCA_plm_rsh_agent names) the job's ranks use.
 * @example reachable("node2") // false once node2's link is down
 */
export function reachable(host: string): boolean {
  const r = spawnSync("mpirun", ["--allow-run-as-root", ...OPEN_MPI_DAEMON_OPTIONS, "--host", `${host}:1`, "-n", "1", "true"], {
    stdio: "ignore",
    timeout: PROBE_TIMEOUT_MS,
    // mpirun waits without end for a daemon that cannot call back.
    killSignal: "SIGKILL",
  });
  return r.status === 0;
}

/**
 * The hosts a restart can use: those of the job still listed in the (re-read) hostfile and
 * reachable, each with its ranks of the first start. A job placed without a host list (one
 * machine, or mpirun's own discovery) restarts on its first shape.
 * @example restartPlacement([{ name: "a", ranks: 2 }, { name: "b", ranks: 2 }], "hosts", reachable) // { size: 2, placement: ["--host", "a:2"] } when b is gone
 */
export function restartPlacement(
  hosts: readonly PlacedHost[] | undefined,
  hostfile: string | undefined,
  first: MpiPlacement,
  isReachable: (host: string) => boolean = reachable,
): MpiPlacement {
  if (hosts === undefined) return first;
  const listed = hostfile === undefined ? null : new Set(readHostfile(hostfile).map((h) => h.name));
  const alive = hosts.filter((h) => (listed === null || listed.has(h.name)) && isReachable(h.name));
  if (alive.length === hosts.length) return first;
  return {
    size: alive.reduce((sum, h) => sum + h.ranks, 0),
    placement: alive.length === 0 ? [] : ["--host", alive.map((h) => `${h.name}:${h.ranks}`).join(",")],
  };
}
