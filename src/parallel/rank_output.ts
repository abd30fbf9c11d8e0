import { BACKEND_ENV } from "./init.js";

/**
 * The prefix of every log line of rank `rank` in a launched job, on both backends.
 * @example rankPrefix(1) // "[rank 1] "
 */
export const rankPrefix = (rank: number): string => `[rank ${rank}] `;

/**
 * The rank of this process in a job started by `turbine launch --backend mpi`, from the
 * environment mpirun gives each rank (Open MPI's OMPI_COMM_WORLD_RANK, or PMIx's / PMI's), so it
 * is known before MPI starts; null in any other process.
 * @example const rank = mpiLaunchRank(); // 0 under `mpirun -n 2`, null under plain node
 */
export function mpiLaunchRank(env: NodeJS.ProcessEnv = process.env): number | null {
  if (env[BACKEND_ENV] !== "mpi") return null;
  const value = env.OMPI_COMM_WORLD_RANK ?? env.PMIX_RANK ?? env.PMI_RANK;
  const rank = Number(value);
  return value !== undefined && Number.isSafeInteger(rank) && rank >= 0 ? rank : null;
}

/**
 * Whether a line is machine-readable output: a JSON object on a line of its own, as `--json`
 * prints. Launched ranks write such lines without the rank prefix, so `turbine launch ... --json | jq`
 * reads them.
 * @example isJsonLine('{"steps":4}\n') // true
 */
export const isJsonLine = (line: string): boolean => /^\{.*\}\n?$/.test(line);

/**
 * Writes `prefix` at the start of every line of a stream's output, chunk after chunk: the
 * returned function maps one written chunk to its prefixed text. With `keepJson`, a whole JSON
 * line written in one chunk is left as it is (see isJsonLine).
 * @example const tag = linePrefixer("[rank 1] "); tag("a\nb"); tag("c\n") // "[rank 1] a\n[rank 1] b", "c\n"
 */
export function linePrefixer(prefix: string, options: { keepJson?: boolean } = {}): (text: string) => string {
  let atLineStart = true;
  return (text) => {
    let out = "";
    for (const piece of text.split(/(?<=\n)/)) {
      if (piece.length === 0) continue;
      if (atLineStart && !(options.keepJson && piece.endsWith("\n") && isJsonLine(piece))) out += prefix;
      out += piece;
      atLineStart = piece.endsWith("\n");
    }
    return out;
  };
}

/**
 * Prefixes every line this process writes to stdout and stderr with `[rank r] ` (but JSON lines on
 * stdout). mpirun merges the output of all ranks, so each rank tags its own, as the threads
 * backend's launcher tags the lines of its worker threads.
 * @example const rank = mpiLaunchRank(); if (rank !== null) prefixProcessOutput(rank);
 */
export function prefixProcessOutput(rank: number): void {
  for (const stream of [process.stdout, process.stderr]) {
    const tag = linePrefixer(rankPrefix(rank), { keepJson: stream === process.stdout });
    const write = stream.write.bind(stream) as (chunk: string, callback?: (error?: Error | null) => void) => boolean;
    stream.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((error?: Error | null) => void), callback?: (error?: Error | null) => void) => {
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString(typeof encoding === "string" ? encoding : "utf8");
      return write(tag(text), typeof encoding === "function" ? encoding : callback);
    }) as typeof stream.write;
  }
}
