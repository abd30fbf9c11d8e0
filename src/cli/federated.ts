import { join } from "node:path";

import type { Command } from "commander";

import { type FederatedSummary, federatedOptions, runFederated } from "../federated/run.js";
import { startThreads } from "../parallel/threads/spawn.js";
import { newRunFolder, writeRunConfig } from "../train/run_folder.js";
import { collect, trainConfig } from "./train.js";

/**
 * `turbine federated [config]`: FedAvg or FedProx rounds of a config with a `federated` block,
 * the round's clients spread over federated.threads worker threads; one line per round in the
 * run folder's metrics.jsonl.
 * @example registerFederated(program);   // turbine federated fed.json --set federated.rounds=20
 */
export function registerFederated(program: Command): void {
  program
    .command("federated")
    .description("federated training (FedAvg, FedProx) of a config with a federated block: per-round test accuracy in the run folder's metrics.jsonl")
    .argument("[config]", "a config file (JSON or YAML) or a built-in name, with a federated block")
    .option("--set <path=value>", "override a config field, e.g. --set federated.rounds=20 (repeatable)", collect, [])
    .option("--json", "end with one JSON line: { rounds, clients, algorithm, first_round_at, final, train_s, run_dir }")
    .action(async (file: string | undefined, opts: { set: string[]; json?: boolean }) => {
      const config = trainConfig(file, { set: opts.set });
      federatedOptions(config);
      const runDir = newRunFolder(join(config.outDir, config.name ?? "federated"));
      writeRunConfig(runDir, config);
      const log = (line: string): void => void process.stderr.write(`${line}\n`);
      const threads = config.federated!.threads;
      let summary: FederatedSummary;
      if (threads === 1) summary = runFederated(config, { runDir, log });
      else {
        const job = startThreads({
          size: threads,
          module: new URL("../federated/federated_rank.js", import.meta.url),
          args: { config, runDir },
          onLine: (_, line) => log(line),
        });
        const outcomes = await job.done;
        const failed = outcomes.find((o) => !o.ok);
        if (failed && !failed.ok) throw failed.error;
        summary = (outcomes[0] as { result: FederatedSummary }).result;
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else
        process.stdout.write(
          `${summary.algorithm}: ${summary.rounds} rounds over ${summary.clients} clients in ${summary.train_s.toFixed(1)} s: accuracy ${(summary.final.accuracy * 100).toFixed(2)}%; run folder: ${runDir}\n`,
        );
    });
}
