import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";

import { DataLoader } from "../../src/data/dataloader.js";
import { FashionMNIST } from "../../src/data/fashion_mnist.js";
import type { Sampler } from "../../src/data/sampler.js";
import { mlp } from "../../src/models/mlp.js";
import { loadSafetensors } from "../../src/tensor/safetensors.js";
import { buildOptimizer, buildSchedule } from "../../src/train/build.js";
import { parseConfig } from "../../src/train/config_file.js";
import { LRScheduler } from "../../src/optim/schedule.js";
import { classification } from "../../src/train/task.js";
import { Trainer } from "../../src/train/trainer.js";
import { fixturesDir } from "../helpers/paths.js";

// test/fixtures/runs_mlp.py trained the mlp (hidden layers 128 wide to keep the weights small)
// in PyTorch from saved weights on fixed batches; turbine must give its loss at every step.
// The runs are chosen stable under float32 rounding (runs_mlp.py measures and stores that), so
// the 1e-4 bound tests turbine's numerics, not the chaos of an ill-conditioned run.
const { tensors, metadata } = loadSafetensors(join(fixturesDir(), "runs", "mlp.safetensors"));
const meta = JSON.parse(metadata.meta!) as {
  steps: number;
  batch: number;
  hidden: number;
  runs: Record<string, { optimizer: "adamw" | "adam" | "sgd"; lr: number; eps?: number; weight_decay?: number; momentum?: number; clip: number | null; schedule: { warmup: number; floor: number } | null }>;
  losses: Record<string, number[]>;
  /** PyTorch's largest divergence from its own float32 variants over the run (see runs_mlp.py). */
  conditioning: Record<string, number>;
};
const indices = tensors.indices!.data as Int32Array;

/** The fixture's batches, in order. */
class FixedBatches implements Sampler {
  readonly length = indices.length;
  epochIndices(): Int32Array {
    return indices;
  }
}

for (const [name, run] of Object.entries(meta.runs)) {
  test(`mlp loss curve with ${name} matches PyTorch at every step within 1e-4`, () => {
    const config = parseConfig(
      {
        model: { kind: "mlp", hidden: [meta.hidden, meta.hidden] },
        data: { kind: "fashion-mnist" },
        optimizer: { kind: run.optimizer, lr: run.lr, ...(run.eps !== undefined ? { eps: run.eps } : {}), ...(run.weight_decay !== undefined ? { weightDecay: run.weight_decay } : {}), ...(run.momentum ? { momentum: run.momentum } : {}) },
        schedule: run.schedule ? { warmup: run.schedule.warmup, decay: "cosine", floor: run.schedule.floor } : {},
        train: { steps: meta.steps, clipGradNorm: run.clip },
      },
      name,
    );
    const model = mlp({ inputs: 784, hidden: [meta.hidden, meta.hidden], classes: 10 });
    const init = Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith("init/")).map(([k, t]) => [k.slice(5), t]));
    model.loadStateDict(init);
    const optimizer = buildOptimizer(config, model);
    const scheduler = new LRScheduler(optimizer, buildSchedule(config, meta.steps));
    const train = new DataLoader(FashionMNIST.load({ split: "train" }), { batchSize: meta.batch, sampler: new FixedBatches() });
    const losses: number[] = [];
    const trainer = new Trainer({
      model,
      optimizer,
      scheduler,
      task: classification(),
      train,
      clipGradNorm: config.train.clipGradNorm,
      callbacks: [{ onStepEnd: (s) => losses.push(s.loss) }],
    });
    trainer.fit({ steps: meta.steps });
    assert.ok(meta.conditioning[name]! < 1e-5, `the fixture's run is unstable under float32 rounding (${meta.conditioning[name]})`);
    const expected = meta.losses[name]!;
    assert.equal(losses.length, expected.length);
    let worst = 0;
    losses.forEach((l, i) => (worst = Math.max(worst, Math.abs(l - expected[i]!) / Math.abs(expected[i]!))));
    assert.ok(worst <= 1e-4, `largest relative difference ${worst.toExponential(2)} (last loss ${losses.at(-1)} vs ${expected.at(-1)})`);
  });
}
