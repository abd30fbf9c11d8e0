/**
 * The environment variables torchrun gives each rank, so scripts and tools written for PyTorch
 * find their place in a job started by `turbine launch` on either backend.
 */

/** A rank's place in a job: in the world and on its machine. */
export interface RankPlace {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
}

/**
 * RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE of a rank, as torchrun names them.
 * @example rankEnvironment({ rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2 }).LOCAL_RANK // "1"
 */
export function rankEnvironment(place: RankPlace): Record<string, string> {
  return { RANK: String(place.rank), WORLD_SIZE: String(place.worldSize), LOCAL_RANK: String(place.localRank), LOCAL_WORLD_SIZE: String(place.localWorldSize) };
}

/**
 * Sets torchrun's variables in a process that mpirun started, from Open MPI's own
 * (OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE); does nothing outside Open MPI.
 * @example exportMpiRankEnvironment(); process.env.WORLD_SIZE // "4" under mpirun -n 4
 */
export function exportMpiRankEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  const read = (name: string): number | null => {
    const n = Number(env[`OMPI_COMM_WORLD_${name}`]);
    return env[`OMPI_COMM_WORLD_${name}`] !== undefined && Number.isSafeInteger(n) ? n : null;
  };
  const [rank, worldSize, localRank, localWorldSize] = [read("RANK"), read("SIZE"), read("LOCAL_RANK"), read("LOCAL_SIZE")];
  if (rank === null || worldSize === null || localRank === null || localWorldSize === null) return;
  Object.assign(env, rankEnvironment({ rank, worldSize, localRank, localWorldSize }));
}
