import { type Command, Option } from "commander";

import { ConfigError, parseConfig, readConfigFile, applyOverrides } from "../train/config_file.js";
import { checkSpaceFits, readSearchSpace } from "../search/space.js";
import { runSearch } from "../search/search.js";
import { SCHEDULER_KINDS, type SchedulerKind } from "../search/scheduler.js";
import { defaultMinSteps } from "../search/successive_halving.js";
import { formatSearchTable } from "../search/trial_summary.js";
import { resolveConfigFile } from "./config_names.js";
import { integerAtLeast } from "./option_values.js";
import { collect } from "./train.js";

interface SearchFlags {
  space: string;
  trials: number;
  scheduler: SchedulerKind;
  parallel: number;
  out: string;
  maxSteps?: number;
  metric?: "accuracy" | "loss";
  minSteps?: number;
  eta: number;
  perturb?: number;
  seed: number;
  set: string[];
  resume?: boolean;
  json?: boolean;
}

/**
 * `turbine search CONFIG --space SPACE.yaml`: hyperparameter and architecture search over any
 * config field, with random search, ASHA, Hyperband or PBT; results in a table and search.jsonl.
 * @example turbine search examples/cnn.json --space space.yaml --trials 16 --scheduler asha --parallel 2
 */
export function registerSearch(program: Command): void {
  program
    .command("search")
    .description("search config values (hyperparameters, model sizes) with random search, ASHA, Hyperband or PBT; trials train in worker threads")
    .argument("<config>", "the base config: a file or a built-in name; each trial is it with the space's values set")
    .requiredOption("--space <file>", "the search space (YAML or JSON): config paths to { choice: [...] }, { uniform | loguniform | int: [low, high] }")
    .option("--trials <n>", "trials to sample (PBT: the population)", integerAtLeast(1), 16)
    .addOption(new Option("--scheduler <kind>", "random, asha, hyperband or pbt").choices(SCHEDULER_KINDS).default("asha"))
    .option("--parallel <p>", "trials training at once; each gets cores / p kernel threads", integerAtLeast(1), 1)
    .option("--out <dir>", "the search's folder: search.jsonl, trials/<n>/ run folders; running again with the same folder continues it", "runs/search")
    .option("--max-steps <s>", "steps of a trial trained to the end (default: the config's train.steps)", integerAtLeast(1))
    .addOption(new Option("--metric <m>", "what ranks trials (default: accuracy for mlp and cnn, loss for gpt)").choices(["accuracy", "loss"]))
    .option(
      "--min-steps <s>",
      "asha, hyperband: steps of the first rung (default: max-steps / η^k, k the most rungs the trials can fill: η^k ≤ trials)",
      integerAtLeast(1),
    )
    .option("--eta <n>", "asha, hyperband: reduction factor (a rung's top 1/η go on)", integerAtLeast(2), 3)
    .option("--perturb <s>", "pbt: steps between exploit/explore decisions (default: max-steps / 4)", integerAtLeast(1))
    .option("--seed <n>", "seed of the sampled values and PBT's decisions", integerAtLeast(0), 0)
    .option("--set <path=value>", "override a field of the base config (repeatable)", collect, [])
    .option("--resume", "continue the search in --out (refused when it holds none); without it, an --out holding a search also continues it")
    .option("--json", "end with one JSON line: { best, total_steps, trials, interrupted }")
    .action(async (file: string, flags: SearchFlags) => {
      const configSource = resolveConfigFile(file);
      const base = applyOverrides(readConfigFile(configSource), flags.set);
      const config = parseConfig(base, configSource);
      const space = readSearchSpace(flags.space);
      checkSpaceFits(space, base, flags.space);
      const maxSteps = flags.maxSteps ?? config.train.steps;
      if (maxSteps === undefined) throw new ConfigError(`search: ${configSource} sets no train.steps; give --max-steps`);
      const controller = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => controller.abort(signal);
      process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
      try {
        const outcome = await runSearch({
          base,
          configSource: file,
          space,
          scheduler: flags.scheduler,
          trials: flags.trials,
          parallel: flags.parallel,
          outDir: flags.out,
          maxSteps,
          metric: flags.metric ?? (config.model.kind === "gpt" ? "loss" : "accuracy"),
          minSteps: flags.minSteps ?? defaultMinSteps(maxSteps, flags.eta, flags.trials),
          eta: flags.eta,
          perturb: flags.perturb ?? Math.max(1, Math.floor(maxSteps / 4)),
          seed: flags.seed,
          ...(flags.resume ? { resume: true } : {}),
          signal: controller.signal,
        });
        process.stdout.write(formatSearchTable(outcome, file));
        if (flags.json) {
          const { best, totalSteps, trials, interrupted } = outcome;
          process.stdout.write(`${JSON.stringify({ best, total_steps: totalSteps, trials: trials.length, interrupted })}\n`);
        }
        if (outcome.interrupted !== null) {
          process.exitCode = outcome.interrupted === "SIGTERM" ? 143 : 130;
          process.stderr.write(`search stopped by ${outcome.interrupted}; the running trials wrote checkpoints; continue with the same command line\n`);
        } else if (outcome.best === null) {
          // Nothing trained: a failed run (missing data, say), not a search that found nothing better.
          process.exitCode = 1;
          const first = outcome.trials[0];
          process.stderr.write(
            `search: every trial failed${first ? ` (trial ${first.trial}: ${first.error ?? "no evaluation"})` : ""}; see ${flags.out}/trials/<n>.log\n`,
          );
        }
      } finally {
        process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
      }
    });
}
