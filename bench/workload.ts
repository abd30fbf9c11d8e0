/**
 * One turbine workload in this process: `--warmup` untimed steps, then `--steps` timed ones
 * (data loading included, evaluation excluded), and one result line in the format of the
 * PyTorch twins (bench/torch/common.py), so the harness reads both alike. With
 * `--time-to-quality`, the gpt trains its 1500-step schedule, validating every 100 steps, and
 * stops the clock at the first validation loss ≤ --target. `--recipe FILE` (a JSON object of
 * config sections) replaces the workload's sections field by field: turbine's fastest
 * time-to-quality recipe is bench/recipes/gpt-fastest.json; its train.steps is its schedule's
 * horizon, in place of --total-steps. `--compile` trains with `train.compile` (the step captured
 * once and replayed; its first steps run eagerly while it records, inside the warm-up).
 *
 *   node dist/bench/workload.js --workload gpt --threads 2 --steps 30 --warmup 5 --json [--compile]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";

import { kernels } from "../src/backends/index.js";
import { buildRun } from "../src/train/build.js";
import type { Callback } from "../src/train/callbacks.js";
import { parseConfig } from "../src/train/config_file.js";
import { Trainer } from "../src/train/trainer.js";
import { packageRoot } from "../src/package_root.js";
import { quietCompile } from "./timed_trainer.js";
import { PRECISIONS, WORKLOADS, type BenchPrecision, type WorkloadName, readRecipe, withRecipe, workloadConfig } from "./workloads.js";

const { values } = parseArgs({
  options: {
    workload: { type: "string" },
    threads: { type: "string", default: "2" },
    precision: { type: "string", default: "f32" },
    steps: { type: "string", default: "50" },
    warmup: { type: "string", default: "5" },
    "time-to-quality": { type: "boolean", default: false },
    "total-steps": { type: "string", default: "1500" },
    "eval-every": { type: "string", default: "100" },
    target: { type: "string", default: "1.6" },
    "no-stop": { type: "boolean", default: false },
    recipe: { type: "string" },
    json: { type: "boolean", default: false },
    compile: { type: "boolean", default: false },
  },
});
const name = values.workload as WorkloadName;
if (!WORKLOADS.includes(name)) throw new Error(`workload: --workload must be one of ${WORKLOADS.join(", ")}, got ${values.workload}`);
const precision = values.precision as BenchPrecision;
if (!(precision in PRECISIONS)) throw new Error(`workload: --precision must be one of ${Object.keys(PRECISIONS).join(", ")}, got ${values.precision}`);
const threads = Number(values.threads),
  steps = Number(values.steps),
  warmup = Number(values.warmup);
kernels.setNumThreads(threads);
const compiled = values.compile;
// A compiled step records its first two steps eagerly; timing them would time the recording.
if (compiled && warmup < 3) throw new Error(`workload: --compile needs --warmup of at least 3 (its first two steps are recorded eagerly), got ${warmup}`);
/** The workload's config at `total` steps, compiled under --compile. */
const configOf = (raw: ReturnType<typeof workloadConfig>, train: object = {}) =>
  parseConfig({ ...raw, train: { ...(raw.train as object), ...train, compile: compiled } }, `${name} workload`);

const row: Record<string, unknown> = { workload: name, precision: values.precision, threads, compiled, unit: name === "gpt" ? "tokens/s" : "samples/s" };
if (values["time-to-quality"]) {
  const target = Number(values.target);
  const recipe = values.recipe === undefined ? {} : readRecipe(values.recipe);
  const total = Number((recipe.train as { steps?: number } | undefined)?.steps ?? values["total-steps"]);
  const raw = withRecipe(workloadConfig(name, packageRoot(), total, precision), recipe);
  const config = configOf(raw, { steps: total, evalEvery: Number(values["eval-every"]) });
  if (values.recipe !== undefined) row.recipe = recipe;
  const parts = buildRun(config);
  const validations: { step: number; loss: number; train_s: number }[] = [];
  let reached: { step: number; train_s: number } | null = null;
  const trainer: Trainer = new Trainer({
    ...parts,
    clipGradNorm: config.train.clipGradNorm,
    compile: quietCompile(config),
    evalEvery: config.train.evalEvery,
    callbacks: [
      {
        onEvalEnd: (e, t) => {
          const trainSeconds = t.trainSeconds;
          validations.push({ step: e.step, loss: e.loss, train_s: trainSeconds });
          if (reached === null && e.loss <= target) {
            reached = { step: e.step, train_s: trainSeconds };
            if (!values["no-stop"]) t.requestStop(`validation loss ${e.loss.toFixed(4)} ≤ ${target}`);
          }
        },
      } satisfies Callback,
    ],
  });
  const result = trainer.fit({ steps: total });
  Object.assign(row, { target, reached, validations, steps: result.steps, seconds: result.trainSeconds, throughput: result.throughput });
} else {
  const config = configOf(workloadConfig(name, packageRoot(), warmup + steps, precision));
  const parts = buildRun(config);
  let finalLoss = NaN;
  const trainer = new Trainer({
    ...parts,
    eval: undefined,
    clipGradNorm: config.train.clipGradNorm,
    compile: quietCompile(config),
    callbacks: [{ onStepEnd: (s) => (finalLoss = s.loss) }],
  });
  if (warmup > 0) trainer.fit({ steps: warmup });
  const before = trainer.trainSeconds;
  const processedBefore = trainer.processedUnits;
  const result = trainer.fit({ steps: warmup + steps });
  const seconds = result.trainSeconds - before;
  Object.assign(row, { throughput: (trainer.processedUnits - processedBefore) / seconds, steps, seconds, final_loss: finalLoss });
  // A compiled run shows that its timed steps were replays, not eager steps.
  if (trainer.compileStats) row.replays = trainer.compileStats.replays;
}
row.load_average = loadavg()[0];
process.stdout.write(
  values.json
    ? `${JSON.stringify(row)}\n`
    : `${Object.entries(row)
        .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
        .join("\n")}\n`,
);
