/**
 * Mixture of experts on the gpt workload of DESIGN.md §4 (4 blocks, width 256, context 128,
 * batch 32, the gpt-char recipe): tokens/s of the dense model against `model.moe` with 4 experts
 * and top-1, then top-2 routing (capacity factor 1.25, dropping), in one process. Each round runs
 * `--steps` steps of every configuration (the order rotates), after `--warmup` untimed steps
 * each; the figure is the median step time over all rounds.
 * `--bf16` runs all three under bf16 autocast. The claim (issue 17): top-1 at ≥ 0.85× the dense
 * tokens/s, top-2 at ≥ 0.55×.
 *
 *   npx tsc -p . && node dist/bench/moe.js [--threads N] [--steps N] [--rounds N] [--warmup N] [--bf16] [--json]
 */
import { parseConfig } from "../src/train/config_file.js";
import type { Trainer } from "../src/train/trainer.js";
import { packageRoot } from "../src/package_root.js";
import { benchOptions, median, report } from "./harness.js";
import { timedTrainer } from "./timed_trainer.js";
import { workloadConfig } from "./workloads.js";

const { json, threads, ints, flags } = benchOptions("moe", { steps: 5, rounds: 5, warmup: 2 }, {}, ["bf16"]);
const { steps, rounds, warmup } = ints;
const precision = flags.bf16 ? "bf16" : "f32";

interface Side {
  name: string;
  trainer: Trainer;
  stepSeconds: number[];
}

function side(name: string, moe: object | undefined): Side {
  const raw = workloadConfig("gpt", packageRoot(), warmup + rounds * steps, precision);
  return { name, ...timedTrainer(parseConfig({ ...raw, model: { ...(raw.model as object), moe } }, "gpt workload"), warmup) };
}

const sides = [side("dense", undefined), side("moe top-1", { experts: 4, topK: 1 }), side("moe top-2", { experts: 4, topK: 2 })];
for (const s of sides) s.trainer.fit({ steps: warmup });
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < sides.length; i++) {
    const s = sides[(i + r) % sides.length]!;
    s.trainer.fit({ steps: s.trainer.step + steps });
  }
}

const dense = median(sides[0]!.stepSeconds);
const rows = sides.map((s) => ({
  config: s.name,
  precision,
  threads,
  step_ms: 1000 * median(s.stepSeconds),
  tokens_per_s: (32 * 128) / median(s.stepSeconds),
  vs_dense: dense / median(s.stepSeconds),
}));
report(
  rows,
  [
    ["config", "config"],
    ["precision", "precision"],
    ["threads", "threads"],
    ["step_ms", "median step (ms)"],
    ["tokens_per_s", "tokens/s"],
    ["vs_dense", "× dense tokens/s"],
  ],
  json,
);
if (!json)
  console.log(`claim: top-1 ≥ 0.85×, top-2 ≥ 0.55× the dense tokens/s; measured ${rows[1]!.vs_dense.toFixed(2)}× and ${rows[2]!.vs_dense.toFixed(2)}×`);
