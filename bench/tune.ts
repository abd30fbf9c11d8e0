/**
 * `turbine tune` on the default cnn and the gpt (gpt-char): each config's baseline, then every
 * lever that applies on one process (bf16, loader workers, batch size with accumulation,
 * checkpointing), kept when faster with the validation loss within 0.5% of the baseline's after
 * the same steps. Prints each tune table (stderr) and a summary: the factor of the tuned config
 * over the baseline and the two validations.
 *
 *   npx tsc -p . && node dist/bench/tune.js [--steps 20] [--warmup 3] [--threads 2] [--json]
 */
import { cpus } from "node:os";

import { trainConfig } from "../src/cli/train.js";
import { dataVocab } from "../src/cli/plan.js";
import { measureTrials } from "../src/tune/trial.js";
import { percent, tune } from "../src/tune/tune.js";
import { formatTune } from "../src/tune/tuned_config.js";
import { benchOptions, report } from "./harness.js";

const { ints, json, threads } = benchOptions("tune", { steps: 20, warmup: 3 });
const rows: Record<string, unknown>[] = [];
for (const name of ["cnn", "gpt-char"]) {
  const config = trainConfig(name, { set: [] });
  const context = { ranks: 1, cores: cpus().length, machine: null, memoryPerRank: Infinity, vocab: config.model.kind === "gpt" ? dataVocab(config) : 1 };
  const started = performance.now();
  const result = await tune(config, {
    measure: measureTrials({ warmup: ints.warmup, steps: ints.steps, ranks: 1, threadsPerRank: threads }),
    context,
    log: (line) => process.stderr.write(`tune bench: ${name}: ${line}\n`),
  });
  process.stderr.write(`${formatTune(result)}\n\n`);
  const change = (result.tuned.validation - result.baseline.validation) / Math.abs(result.baseline.validation);
  rows.push({
    config: name,
    baseline: (1000 * result.baseline.secondsPerStep).toFixed(1),
    tuned: (1000 * result.tuned.secondsPerStep).toFixed(1),
    factor: `${result.factor.toFixed(2)}×`,
    baselineValidation: result.baseline.validation.toFixed(4),
    tunedValidation: `${result.tuned.validation.toFixed(4)} (${percent(change)})`,
    kept: result.rows
      .filter((r) => r.kept)
      .map((r) => r.what)
      .join(", "),
    seconds: ((performance.now() - started) / 1000).toFixed(0),
  });
}
report(
  rows,
  [
    ["config", `${threads} threads, ${ints.steps} timed steps per trial`],
    ["baseline", "baseline ms/step"],
    ["tuned", "tuned ms/step"],
    ["factor", "factor"],
    ["baselineValidation", "baseline validation"],
    ["tunedValidation", "tuned validation"],
    ["kept", "levers kept"],
    ["seconds", "tune s"],
  ],
  json,
);
