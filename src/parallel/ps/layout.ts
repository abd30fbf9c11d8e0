/**
 * Who does what in a parameter-server job: the last `servers` ranks serve (so rank 0 trains and
 * writes the run folder, as in every other layout), the others train; and which server holds
 * which parameter: whole parameters, largest first, each to the server holding the fewest
 * elements so far (the lowest index on a tie), the same on every rank.
 */
export interface PsLayout {
  /** Ranks that train (group ranks, ascending). */
  workers: number[];
  /** Ranks that hold the parameters and apply the optimizer (group ranks, ascending). */
  servers: number[];
  /** For each parameter (in the model's order), the index in `servers` of the one that holds it. */
  owner: number[];
}

/**
 * The layout of `size` ranks with `servers` of them serving, over parameters of the given sizes.
 * @example psLayout(4, 1, [100, 10]) // { workers: [0, 1, 2], servers: [3], owner: [0, 0] }
 */
export function psLayout(size: number, servers: number, parameterSizes: readonly number[]): PsLayout {
  if (!Number.isSafeInteger(servers) || servers < 1 || servers >= size) {
    throw new RangeError(`parallel.servers ${servers}: a parameter server job of ${size} ranks needs 1 to ${size - 1} servers (the other ranks train)`);
  }
  const workers = Array.from({ length: size - servers }, (_, r) => r);
  const serverRanks = Array.from({ length: servers }, (_, i) => size - servers + i);
  const load = new Array<number>(servers).fill(0);
  const owner = new Array<number>(parameterSizes.length).fill(0);
  const bySize = parameterSizes.map((n, i) => [n, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [n, i] of bySize) {
    const least = load.indexOf(Math.min(...load));
    owner[i] = least;
    load[least]! += n;
  }
  return { workers, servers: serverRanks, owner };
}
