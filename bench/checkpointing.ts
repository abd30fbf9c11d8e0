/**
 * Activation checkpointing on the gpt workload of DESIGN.md §4 (4 blocks, width 256, context
 * 128, batch 32, the gpt-char recipe): peak activation memory and step time with every block
 * checkpointed (`model.checkpoint: true`) against the plain model, in one process.
 *
 * Memory is exact (the tracker's peak of the "activation" category over the timed steps), so
 * one measurement suffices. Time: both runs train from the same seed; each round runs
 * `--steps` steps of one configuration and then of the other (which goes first alternates),
 * after `--warmup` untimed steps each; the figure is the median step time over all rounds.
 * The claim: ≥ 60% less peak activation memory for ≤ 40% more step time.
 *
 *   npx tsc -p . && node dist/bench/checkpointing.js [--threads N] [--steps N] [--rounds N] [--warmup N] [--json]
 */
import { memory } from "../src/tensor/memory.js";
import { parseConfig } from "../src/train/config_file.js";
import type { Trainer } from "../src/train/trainer.js";
import { packageRoot } from "../src/package_root.js";
import { benchOptions, median, report } from "./harness.js";
import { timedTrainer } from "./timed_trainer.js";
import { workloadConfig } from "./workloads.js";

const { json, threads, ints } = benchOptions("checkpointing", { steps: 5, rounds: 5, warmup: 2 });
const { steps, rounds, warmup } = ints;

interface Side {
  name: string;
  trainer: Trainer;
  stepSeconds: number[];
  peakActivation: number;
}

function side(checkpoint: boolean): Side {
  const raw = workloadConfig("gpt", packageRoot(), warmup + rounds * steps);
  const config = parseConfig({ ...raw, model: { ...(raw.model as object), checkpoint } }, "gpt workload");
  return { name: checkpoint ? "checkpoint" : "plain", ...timedTrainer(config, warmup), peakActivation: 0 };
}

/** Runs n more steps of a side, tracking its peak activation memory. */
function advance(s: Side, n: number): void {
  memory.resetPeak();
  const base = memory.report().current.activation;
  s.trainer.fit({ steps: s.trainer.step + n });
  s.peakActivation = Math.max(s.peakActivation, memory.report().peak.activation - base);
}

const sides = [side(false), side(true)];
for (const s of sides) advance(s, warmup);
for (let r = 0; r < rounds; r++) for (const s of r % 2 ? [...sides].reverse() : sides) advance(s, steps);

const rows = sides.map((s) => ({
  config: s.name,
  threads,
  peak_activation_mib: s.peakActivation / 2 ** 20,
  step_ms: 1000 * median(s.stepSeconds),
  tokens_per_s: (32 * 128) / median(s.stepSeconds),
}));
report(
  rows,
  [
    ["config", "config"],
    ["threads", "threads"],
    ["peak_activation_mib", "peak activations (MiB)"],
    ["step_ms", "median step (ms)"],
    ["tokens_per_s", "tokens/s"],
  ],
  json,
);
const [plain, checkpointed] = rows as [(typeof rows)[0], (typeof rows)[0]];
const memorySaved = 1 - checkpointed.peak_activation_mib / plain.peak_activation_mib;
const timeAdded = checkpointed.step_ms / plain.step_ms - 1;
if (json) console.log(JSON.stringify({ config: "checkpoint vs plain", memory_saved: memorySaved, time_added: timeAdded }));
else
  console.log(
    `checkpointing every block: ${(100 * memorySaved).toFixed(1)}% less peak activation memory, ${(100 * timeAdded).toFixed(1)}% more step time (claim: ≥ 60%, ≤ 40%)`,
  );
