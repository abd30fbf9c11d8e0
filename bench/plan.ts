/**
 * The planner against real runs: a small gpt on 2 ranks of the threads backend (1 thread each)
 * in 11 layouts spanning DDP, ZeRO 1–3, tensor and pipeline parallelism (gpipe, 1f1b),
 * activation checkpointing, accumulation and bf16, in `--rounds` rounds (every other one in
 * reverse order), each after calibrating this machine afresh. Each layout runs `--warmup`
 * untimed and `--steps` timed steps; the table puts `turbine plan`'s predicted per-rank peak
 * memory and step time (rankMemory, stepTime on that round's calibration) beside the measured
 * ones (the memory tracker's peak on the busiest rank; the slowest rank's seconds per step),
 * medians over the rounds, with the median and range of the rounds' step-time errors, and ends
 * with the Spearman rank correlation of the median step times.
 * Targets (issue 20): memory within 10%, step time within 25%, Spearman ≥ 0.8.
 *
 *   npx tsc -p . && node dist/bench/plan.js [--steps 6] [--warmup 2] [--rounds 3] [--json]
 */
import { loadKjv } from "../src/data/kjv.js";
import { CharTokenizer } from "../src/data/tokenizer.js";
import { startThreads } from "../src/parallel/threads/spawn.js";
import { calibrate, calibratedMachine } from "../src/plan/calibration.js";
import { layoutOf } from "../src/plan/layouts.js";
import type { MeasuredRun } from "../src/plan/measured_run.js";
import { describeModel } from "../src/plan/model_description.js";
import { rankMemory } from "../src/plan/rank_memory.js";
import { stepTime } from "../src/plan/step_time.js";
import { parseConfig } from "../src/train/config_file.js";
import type { ConfigInput } from "../src/train/config.js";
import { benchOptions, median, report } from "./harness.js";

const { ints, json } = benchOptions("plan", { steps: 6, warmup: 2, rounds: 3 });
const RANKS = 2;

/** The layouts measured: name and what they change in the base config. */
const LAYOUTS: [string, Record<string, unknown>][] = [
  ["DDP", {}],
  ["ZeRO-1", { parallel: { zero: 1 } }],
  ["ZeRO-2", { parallel: { zero: 2 } }],
  ["ZeRO-3", { parallel: { zero: 3 } }],
  ["tensor 2", { parallel: { tensor: 2 } }],
  ["pipeline 2 1f1b ×4", { parallel: { pipeline: 2, microBatches: 4, schedule: "1f1b" } }],
  ["pipeline 2 gpipe ×4", { parallel: { pipeline: 2, microBatches: 4, schedule: "gpipe" } }],
  ["DDP checkpointing", { model: { checkpoint: true } }],
  ["ZeRO-2 checkpointing", { model: { checkpoint: true }, parallel: { zero: 2 } }],
  ["DDP accumulate 2", { data: { batchSize: 8 }, train: { accumulate: 2 } }],
  ["DDP bf16", { train: { precision: "bfloat16" } }],
];

function configOf(change: Record<string, unknown>): ConfigInput {
  const base = {
    model: { kind: "gpt", layers: 4, heads: 4, width: 128, context: 64 },
    data: { kind: "text", batchSize: 16, valBatches: 1 },
    optimizer: { kind: "adamw", lr: 1e-3 },
    train: { steps: ints.warmup + ints.steps, clipGradNorm: 1.0 },
  } as Record<string, Record<string, unknown>>;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(change)) merged[key] = { ...(base[key] ?? {}), ...(value as object) };
  return merged as ConfigInput;
}

/** Ranks 1..n of values, ties sharing their mean rank. */
function ranks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    for (let k = i; k <= j; k++) out[order[k]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

/** Spearman's rank correlation: Pearson's over the ranks. */
function spearman(a: readonly number[], b: readonly number[]): number {
  const [ra, rb] = [ranks(a), ranks(b)];
  const mean = (r: number[]): number => r.reduce((s, v) => s + v, 0) / r.length;
  const [ma, mb] = [mean(ra), mean(rb)];
  let num = 0,
    da = 0,
    db = 0;
  for (let i = 0; i < ra.length; i++) {
    num += (ra[i]! - ma) * (rb[i]! - mb);
    da += (ra[i]! - ma) ** 2;
    db += (rb[i]! - mb) ** 2;
  }
  return num / Math.sqrt(da * db);
}

const vocab = CharTokenizer.fromText(loadKjv()).vocabSize;
/** Per layout, each round's predicted and measured figures. */
const rounds = LAYOUTS.map(() => ({ memPredicted: 0, memMeasured: [] as number[], timePredicted: [] as number[], timeMeasured: [] as number[] }));
let cpu = "";
for (let round = 0; round < ints.rounds; round++) {
  // Calibrated afresh each round, just before its runs: this host's speed drifts by a quarter
  // over minutes, and a prediction is only as good as the machine's figures at the time.
  const calibration = await calibrate((line) => process.stderr.write(`plan bench: round ${round + 1}: ${line}\n`));
  cpu = calibration.cpu;
  const machine = calibratedMachine(calibration, RANKS);
  // Every other round runs the layouts in reverse, so no layout always runs first or last.
  const order = LAYOUTS.map((_, i) => i);
  if (round % 2 === 1) order.reverse();
  for (const i of order) {
    const [name, change] = LAYOUTS[i]!;
    const config = parseConfig(configOf(change), name);
    const model = describeModel(config.model, vocab);
    const layout = layoutOf(config, RANKS);
    const job = startThreads({
      size: RANKS,
      module: new URL("../src/plan/measured_run_rank.js", import.meta.url),
      args: { config, warmup: ints.warmup, steps: ints.steps },
      threadsPerWorker: 1,
    });
    const measured = (await job.done).map((o) => {
      if (!o.ok) throw o.error;
      return o.result as MeasuredRun;
    });
    const r = rounds[i]!;
    r.memPredicted = rankMemory(config, model, layout).total;
    r.memMeasured.push(Math.max(...measured.map((m) => m.peakBytes)));
    r.timePredicted.push(stepTime(config, model, layout, machine).total);
    r.timeMeasured.push(Math.max(...measured.map((m) => m.secondsPerStep)));
    process.stderr.write(`plan bench: round ${round + 1}: ${name} done\n`);
  }
}
const pct = (predicted: number, real: number): string => `${predicted >= real ? "+" : ""}${((100 * (predicted - real)) / real).toFixed(1)}%`;
const rows = LAYOUTS.map(([name], i) => {
  const r = rounds[i]!;
  const errors = r.timePredicted.map((p, k) => (100 * (p - r.timeMeasured[k]!)) / r.timeMeasured[k]!);
  const memMeasured = median(r.memMeasured);
  return {
    layout: name,
    memPredicted: (r.memPredicted / 2 ** 20).toFixed(1),
    memMeasured: (memMeasured / 2 ** 20).toFixed(1),
    memError: pct(r.memPredicted, memMeasured),
    timePredicted: (median(r.timePredicted) * 1000).toFixed(1),
    timeMeasured: (median(r.timeMeasured) * 1000).toFixed(1),
    timeError: `${median(errors) >= 0 ? "+" : ""}${median(errors).toFixed(1)}%`,
    errorRange: `${Math.min(...errors).toFixed(0)}…${Math.max(...errors).toFixed(0)}%`,
  };
});
const predictedTimes = rounds.map((r) => median(r.timePredicted)),
  measuredTimes = rounds.map((r) => median(r.timeMeasured));
report(
  rows,
  [
    ["layout", `2 ranks × 1 thread, ${cpu}, ${ints.rounds} rounds`],
    ["memPredicted", "peak MiB predicted"],
    ["memMeasured", "measured"],
    ["memError", "error"],
    ["timePredicted", "ms/step predicted"],
    ["timeMeasured", "measured"],
    ["timeError", "error (median of rounds)"],
    ["errorRange", "rounds' errors"],
  ],
  json,
);
process.stdout.write(`Spearman rank correlation of step times: ${spearman(predictedTimes, measuredTimes).toFixed(3)} over ${LAYOUTS.length} layouts\n`);
