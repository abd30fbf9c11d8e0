import { TokenFileError } from "../data/token_file.js";
import { CheckpointError } from "../train/checkpoint.js";
import { LaunchUsageError } from "./launch.js";
import { ConfigError } from "../train/config_file.js";
import { NonFiniteLossError } from "../train/trainer.js";

/**
 * Exit codes of the CLI: 2 for a bad config or usage, 1 for a run that failed for a reason it
 * names (missing or corrupt data, a non-finite loss, no valid checkpoint), 70 (EX_SOFTWARE) for
 * anything unexpected, printed with its stack.
 */
export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError || error instanceof LaunchUsageError) return 2;
  if (error instanceof NonFiniteLossError || error instanceof CheckpointError || error instanceof TokenFileError) return 1;
  if (error instanceof Error && /^(\/|[A-Za-z]).*\.(gz|safetensors|json|txt|bin)\b|apt-get install/.test(error.message)) return 1;
  return 70;
}
