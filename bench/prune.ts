/**
 * Structured pruning (issue 19): the cnn (DESIGN.md §4) trained `--train-steps` steps, half its
 * conv channels removed by `turbine prune`'s rebuild (pruneRun, targets conv), then fine-tuned
 * `--finetune-steps` steps. Reports the test accuracy before and after (target: within 0.5
 * point) and the training and inference samples/s of the pruned and the full model (target:
 * ≥ 1.6×), timed in `--rounds` alternating rounds (the side that goes first alternates): each
 * round `--steps` training steps (batch 128, AdamW, medians of the step times) and 10 forwards
 * of a 1000-image test batch (eval mode, no gradients).
 *
 *   npx tsc -p . && node dist/bench/prune.js [--train-steps 1876] [--finetune-steps 469] [--rounds 5] [--steps 20] [--json]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { noGrad } from "../src/autograd/grad_mode.js";
import { FashionMNIST } from "../src/data/fashion_mnist.js";
import { DataLoader } from "../src/data/dataloader.js";
import type { Module } from "../src/nn/module.js";
import { pruneRun } from "../src/prune/prune_run.js";
import { tidy } from "../src/tensor/scope.js";
import type { Config } from "../src/train/config.js";
import { parseConfig } from "../src/train/config_file.js";
import { resumeConfig } from "../src/train/resume_config.js";
import { runTraining } from "../src/train/run.js";
import { loadTrainedModel } from "../src/train/trained_model.js";
import { benchOptions, median, now, report, warmUp } from "./harness.js";
import { timedTrainer } from "./timed_trainer.js";

const { json, ints } = benchOptions("prune", { "train-steps": 1876, "finetune-steps": 469, rounds: 5, steps: 20 });
const out = mkdtempSync(join(tmpdir(), "turbine-bench-prune-"));
const quiet = { log: () => {} };

const cnnConfig = (steps: number): Config =>
  parseConfig(
    {
      name: "full",
      outDir: out,
      model: { kind: "cnn" },
      data: { kind: "fashion-mnist", batchSize: 128 },
      optimizer: { kind: "adamw", lr: 2e-3 },
      schedule: { warmup: 100, decay: "cosine", floor: 0.1 },
      train: { steps, clipGradNorm: 1.0, logEvery: 1000, evalEvery: null },
      checkpoint: { every: null },
    },
    "prune bench",
  );

/** Seconds of one forward of `x` through `model` (eval mode, no gradients), the median of 10. */
function forwardSeconds(model: Module, x: import("../src/tensor/tensor.js").Tensor): number {
  const once = () => noGrad(() => tidy(() => void model.forward(x)));
  warmUp(once);
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = now();
    once();
    times.push(now() - t0);
  }
  return median(times);
}

try {
  const full = runTraining(cnnConfig(ints["train-steps"]), quiet);
  const pruned = pruneRun(full.run_dir, { fraction: 0.5, targets: ["conv"], out: join(out, "half"), steps: ints["finetune-steps"] }, () => {});
  const tuned = runTraining(resumeConfig(pruned.dir, []), { ...quiet, resume: pruned.dir });

  // Timing: the same config for both sides but the model, from a fresh start, alternating.
  const timedSteps = 3 + ints.rounds * ints.steps;
  const sides = [
    { name: "full", config: cnnConfig(timedSteps), model: loadTrainedModel(full.run_dir, () => {}).model },
    {
      name: "pruned (conv channels ÷ 2)",
      config: { ...cnnConfig(timedSteps), model: pruned.config.model },
      model: loadTrainedModel(tuned.run_dir, () => {}).model,
    },
  ].map((s) => ({ ...s, timed: timedTrainer(s.config, 3), forward: [] as number[] }));
  const test = new DataLoader(FashionMNIST.load({ split: "test" }), { batchSize: 1000 });
  const batch = test[Symbol.iterator]().next().value!;
  for (const s of sides) s.timed.trainer.fit({ steps: 3 });
  for (let round = 0; round < ints.rounds; round++) {
    for (const s of round % 2 === 0 ? sides : [...sides].reverse()) {
      s.timed.trainer.fit({ steps: s.timed.trainer.step + ints.steps });
      s.forward.push(forwardSeconds(s.model, batch.x));
    }
  }
  const rows = sides.map((s, i) => ({
    model: s.name,
    parameters: s.model.parameterCount(),
    accuracy: (100 * [full, tuned][i]!.eval!.accuracy!).toFixed(2),
    train: Math.round(128 / median(s.timed.stepSeconds)),
    infer: Math.round(1000 / median(s.forward)),
  }));
  report(
    rows,
    [
      ["model", "model"],
      ["parameters", "parameters"],
      ["accuracy", "test accuracy %"],
      ["train", "train samples/s"],
      ["infer", "inference samples/s"],
    ],
    json,
  );
  if (!json) {
    const [a, b] = rows as [(typeof rows)[0], (typeof rows)[0]];
    console.log(
      `pruned − full: ${(Number(b.accuracy) - Number(a.accuracy)).toFixed(2)} points (target ≥ −0.5); ` +
        `speed-up: training ${(b.train / a.train).toFixed(2)}×, inference ${(b.infer / a.infer).toFixed(2)}× (target ≥ 1.6×), ${ints.rounds} alternating rounds`,
    );
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
