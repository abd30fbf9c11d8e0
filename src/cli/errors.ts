import { BackendSettingError } from "../backends/index.js";
import { CollectiveError } from "../parallel/process_group.js";
import { ParameterServerError } from "../parallel/ps/worker.js";
import { TokenFileError } from "../data/token_file.js";
import { CheckpointError } from "../train/checkpoint.js";
import { ConfigError } from "../train/config_file.js";
import { NonFiniteLossError } from "../train/trainer.js";
import { RunDataError } from "../report/run_data.js";
import { SearchLogError } from "../search/search_log.js";

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
 * Whether an error is V8's refusal to allocate memory (a tensor or array larger than the machine
 * or the engine allows), which a config with huge sizes ends in.
 */
function isOutOfMemory(error: unknown): boolean {
  return (
    error instanceof RangeError &&
    /^(Array buffer allocation failed|Invalid typed array length|Invalid array buffer length|Invalid array length)/.test(error.message)
  );
}

/**
 * Exit codes of the CLI: 2 for a bad config or usage, 1 for a run that failed for a reason it
 * names (missing or corrupt data or run files, a non-finite loss, no valid checkpoint, out of memory, a
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

/**
 * What the CLI prints for an error that ended a command: its message (and hint) for the errors
 * it knows, the stack for an unexpected one, so a bug can be reported.
 * @example describeError(new UsageError("unknown command 'trian'", "see turbine --help")) // "unknown command 'trian'; see turbine --help"
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (exitCodeFor(error) === 70) return error.stack ?? error.message;
  if (isOutOfMemory(error))
    return `out of memory (${error.message}): the config's sizes need more than this machine gives; lower the model's sizes or data.batchSize`;
  return error instanceof UsageError && error.hint ? `${error.message}; ${error.hint}` : error.message;
}
