import { existsSync, statSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, extname, resolve } from "node:path";

import type { Command } from "commander";

import { kernels } from "../backends/index.js";
import { measureTrials } from "../tune/trial.js";
import { tune } from "../tune/tune.js";
import { formatTune, TUNED_CONFIG_EXTENSIONS, writeTunedConfig } from "../tune/tuned_config.js";
import { UsageError } from "./errors.js";
import { integerAtLeast, numberAtLeast } from "./option_values.js";
import { dataVocab, thisMachine } from "./plan.js";
import { collect, trainConfig } from "./train.js";

interface TuneFlags {
  set: string[];
  steps: number;
  warmup: number;
  ranks: number;
  out?: string;
  tolerance: number;
  json?: boolean;
}

/** Refuses an --out file that cannot be written, before any trial runs. */
function checkOut(path: string): void {
  const ext = extname(path).toLowerCase();
  if (!(TUNED_CONFIG_EXTENSIONS as readonly string[]).includes(ext))
    throw new UsageError(`tune: --out ${path}: the extension must be one of ${TUNED_CONFIG_EXTENSIONS.join(", ")}`, "e.g. --out tuned.json");
  const folder = dirname(resolve(path));
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new UsageError(`tune: --out ${path}: the folder ${folder} does not exist`, "make it first");
  if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`tune: --out ${path} is a folder; give a file name`, "e.g. --out tuned.json");
}

/**
 * `turbine tune CONFIG [--steps N] [--ranks N] [--out FILE] [--json]`: measure the config, try
 * each lever that applies, keep those that are faster with the validation within tolerance,
 * print the table and write the tuned config.
 *
 * @example turbine tune cnn --steps 20 --out cnn.tuned.json
 */
export function registerTune(program: Command): void {
  program
    .command("tune")
    .description(
      "accelerate, verify, adjust: measure the config, try each lever that applies (bf16, loader workers, batch size with accumulation, checkpointing, compression and the planner's layout with --ranks), keep those faster with the validation within tolerance, write the tuned config",
    )
    .argument("[config]", "config file, or the name of a built-in one (as turbine train)")
    .option("--set <path=value>", "override a config field, e.g. --set data.batchSize=64 (repeatable)", collect, [])
    .option("--steps <n>", "timed training steps per trial (the validation follows them)", integerAtLeast(1), 20)
    .option("--warmup <n>", "untimed steps before them", integerAtLeast(0), 3)
    .option("--ranks <n>", "ranks of each trial on the threads backend (more than 1: compression and the planner's layout apply)", integerAtLeast(1), 1)
    .option("--tolerance <share>", "the most the validation loss may rise over the baseline's, relative", numberAtLeast(0), 0.005)
    .option("--out <file>", "where the tuned config goes (.json, .yaml or .yml; default: <name>.tuned.json here)")
    .option("--json", "one JSON object: the baseline, each lever's row, the factor and the file written")
    .action(async (file: string | undefined, flags: TuneFlags) => {
      const config = trainConfig(file, { set: flags.set });
      const out = flags.out ?? `${config.name ?? config.model.kind}.tuned.json`;
      checkOut(out);
      const cores = cpus().length;
      const ranks = flags.ranks;
      const threadsPerRank = Math.max(1, Math.floor(cores / ranks));
      if (ranks === 1) kernels.setNumThreads(threadsPerRank);
      const context = {
        ranks,
        cores,
        machine: ranks > 1 ? await thisMachine(ranks) : null,
        memoryPerRank: totalmem() / ranks,
        vocab: config.model.kind === "gpt" ? dataVocab(config) : 1,
      };
      const log = flags.json ? () => {} : (line: string) => process.stderr.write(`${line}\n`);
      const result = await tune(config, {
        measure: measureTrials({ warmup: flags.warmup, steps: flags.steps, ranks, threadsPerRank }),
        context,
        tolerance: flags.tolerance,
        log,
      });
      writeTunedConfig(out, result.config);
      if (flags.json) process.stdout.write(`${JSON.stringify({ ...result, out })}\n`);
      else process.stdout.write(`${formatTune(result)}\ntuned config written to ${out}\n`);
    });
}
