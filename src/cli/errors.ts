import { BackendSettingError } from "../backends/index.js";
import { CollectiveError } from "../parallel/process_group.js";
import { ParameterServerError } from "../parallel/ps/worker.js";
import { DataFileError } from "../data/data_file_error.js";
import { TokenFileError } from "../data/token_file.js";
import { CheckpointError } from "../train/checkpoint.js";
import { ConfigError } from "../train/config_file.js";
import { NonFiniteLossError } from "../train/trainer.js";
import { RunDataError } from "../report/run_data.js";
import { SearchLogError } from "../search/search_log.js";
import { isOutOfMemory } from "../tensor/memory.js";

/**
 * A bad command line (exit code 2): the message names the bad value and what is allowed, and
 * the hint says where to look next.
 * @example throw new UsageError("launch: -n must be a positive integer, got \"0\"", "see turbine launch --help");
 */
export class UsageError extends Error {
  constructor(
    message: string,
    /** What to do or read next, printed after the message on the same line. */
    readonly hint?: string,
  ) {
    super(message);
  }
}

/**
 * Whether an error is the operating system's refusal of a file operation (a path that is missing,
 * a file where a folder is needed or the reverse, no permission, a full disk): Node's system
 * errors carry the errno code, the call and the path, which their message names.
 */
function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === "string" && typeof (error as NodeJS.ErrnoException).syscall === "string";
}

/**
 * Exit codes of the CLI: 2 for a bad config or usage, 1 for a run that failed for a reason it
 * names (missing or corrupt data or run files, a file operation the system refused, a non-finite loss, no valid checkpoint, out of memory, a
 * collective that timed out or lost a peer: the message names the op and the ranks), 70 (EX_SOFTWARE) for
 * anything unexpected, printed with its stack.
 * @example exitCodeFor(new UsageError("bad")) // 2
 */
export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError || error instanceof UsageError || error instanceof BackendSettingError) return 2;
  if (
    error instanceof NonFiniteLossError ||
    error instanceof CheckpointError ||
    error instanceof TokenFileError ||
    error instanceof DataFileError ||
    isFileSystemError(error) ||
    error instanceof CollectiveError ||
    error instanceof ParameterServerError ||
    error instanceof RunDataError ||
    error instanceof SearchLogError ||
    isOutOfMemory(error)
  )
    return 1;
  if (error instanceof Error && /^(\/|[A-Za-z]).*\.(gz|safetensors|json|txt|bin)\b|apt-get install/.test(error.message)) return 1;
  return 70;
}

/** A system error's reason without its errno prefix and quoted path: "not a directory" for ENOTDIR. */
function systemReason(error: NodeJS.ErrnoException): string {
  const reason = /^[A-Z]+: ([^,]+)/.exec(error.message)?.[1];
  return reason ?? error.message;
}

/**
 * What the CLI prints for an error that ended a command: its message (and hint) for the errors
 * it knows, the stack for an unexpected one, so a bug can be reported.
 * @example describeError(new UsageError("unknown command 'trian'", "see turbine --help")) // "unknown command 'trian'; see turbine --help"
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (exitCodeFor(error) === 70) return error.stack ?? error.message;
  if (isFileSystemError(error) && error.path !== undefined) return `${error.path}: ${systemReason(error)} (${error.syscall})`;
  if (isOutOfMemory(error))
    return `out of memory (${error.message}): the config's sizes need more than this machine gives; lower the model's sizes or data.batchSize`;
  return error instanceof UsageError && error.hint ? `${error.message}; ${error.hint}` : error.message;
}
