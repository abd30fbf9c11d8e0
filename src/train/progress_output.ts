import { writeSync } from "node:fs";
import { isatty } from "node:tty";
import { isMainThread } from "node:worker_threads";

import { linePrefixer, rankPrefix } from "../parallel/rank_output.js";
import { ConfigError } from "./config_file.js";

/**
 * The environment variable that chooses how progress is shown: "bar" or "lines". `turbine
 * launch` sets it for its ranks from its own stderr, since a rank cannot tell where its output
 * ends up (mpirun gives every rank a pseudo-terminal even when the job's output goes to a file;
 * a worker thread's stderr is a pipe to the launcher). A user may set it to force either.
 */
export const PROGRESS_ENV = "TURBINE_PROGRESS";

/** How progress is shown: a bar redrawn in place, or plain lines for files and pipes. */
export type ProgressMode = "bar" | "lines";

/**
 * Where progress goes. `terminal` says whether it is a terminal (then a bar is drawn on it with
 * escape codes) or a file or pipe (then only plain lines are written).
 */
export interface ProgressOutput {
  readonly terminal: boolean;
  /** The terminal's width, when known. */
  readonly columns?: number;
  write(text: string): void;
}

/**
 * The progress mode of this process: $TURBINE_PROGRESS when set, else a bar when stderr (where
 * progress goes) is a terminal.
 * @example progressMode({ TURBINE_PROGRESS: "lines" }, true) // "lines"
 */
export function progressMode(env: NodeJS.ProcessEnv = process.env, stderrIsTerminal: boolean = isatty(2)): ProgressMode {
  const chosen = env[PROGRESS_ENV];
  if (chosen === undefined || chosen === "") return stderrIsTerminal ? "bar" : "lines";
  if (chosen === "bar" || chosen === "lines") return chosen;
  throw new ConfigError(`${PROGRESS_ENV} must be "bar" or "lines", got ${JSON.stringify(chosen)}`);
}

/** Writes all of text to a file descriptor, retrying while a non-blocking one is full. */
function writeAll(fd: number, text: string): void {
  let bytes = Buffer.from(text);
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(writeSync(fd, bytes));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
    }
  }
}

/**
 * This process's progress output, on stderr (as tqdm's). On the main thread it goes through
 * process.stderr (which a rank of `turbine launch --backend mpi` tags with "[rank r] " itself).
 * A worker thread's process.stderr is a pipe to the launcher that only moves while the worker's
 * event loop turns, never during the synchronous training loop, so a worker writes straight to
 * the process's stderr: a bar as it is, lines with the "[rank r] " prefix of its `rank` (if in a job).
 * @example const out = stderrProgressOutput("lines"); if (!out.terminal) out.write("step 1/10\n");
 */
export function stderrProgressOutput(mode: ProgressMode = progressMode(), rank?: number): ProgressOutput {
  const terminal = mode === "bar";
  if (isMainThread) return { terminal, columns: process.stderr.columns, write: (text) => void process.stderr.write(text) };
  const tag = terminal || rank === undefined ? (text: string) => text : linePrefixer(rankPrefix(rank));
  return { terminal, write: (text) => writeAll(2, tag(text)) };
}

/**
 * Progress as plain lines handed one at a time (without the newline) to a log function.
 * @example new Progress({ ...options, output: linesTo((line) => console.error(line)) })
 */
export function linesTo(log: (line: string) => void): ProgressOutput {
  return { terminal: false, write: (text) => log(text.replace(/\n$/, "")) };
}
