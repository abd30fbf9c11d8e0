/**
 * One client thread of `turbine federated` with federated.threads > 1 (started by startThreads):
 * every thread runs the same rounds, training its share of each round's clients; thread 0
 * writes the round lines and returns the summary.
 */
import type { ProcessGroup } from "../parallel/process_group.js";
import type { Config } from "../train/config.js";
import { type FederatedSummary, runFederated } from "./run.js";

export function run(group: ProcessGroup, args: { config: Config; runDir: string }): FederatedSummary {
  return runFederated(args.config, { group, runDir: args.runDir, log: (line) => process.stderr.write(`${line}\n`) });
}
