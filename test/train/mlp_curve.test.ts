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
import { curveDeviation, curveTolerance } from "../helpers/curve.js";
import { fixturesDir } from "../helpers/paths.js";

// test/fixtures/runs_mlp.py trained the mlp (hidden layers 128 wide to keep the weights small)
// in PyTorch from saved weights on fixed batches; turbine must give its loss at every step.
// The runs are chosen stable under float32 rounding (runs_mlp.py measures and stores that), so
// the bound, a multiple of that measure (see curveTolerance), tests turbine's numerics, not the
// chaos of an ill-conditioned run.
const { tensors, metadata } = loadSafetensors(join(fixturesDir(), "runs", "mlp.safetensors"));
const meta = JSON.parse(metadata.meta!) as {
  steps: number;
  batch: number;
  hidden: number;
  runs: Record<
    string,
    {
      optimizer: "adamw" | "adam" | "sgd";
      lr: number;
      eps?: number;
      weight_decay?: number;
      momentum?: number;
      clip: number | null;
      schedule: { warmup: number; floor: number } | null;
    }
  >;
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

type Run = (typeof meta.runs)[string] & { betas?: [number, number]; decayOn?: "all" | "matrices" };

/** turbine's loss curve for the fixture's weights and batches, trained with `run`. */
function mlpCurve(name: string, run: Run): number[] {
  const config = parseConfig(
    {
      model: { kind: "mlp", hidden: [meta.hidden, meta.hidden] },
      data: { kind: "fashion-mnist" },
      optimizer: {
        kind: run.optimizer,
        lr: run.lr,
        ...(run.eps !== undefined ? { eps: run.eps } : {}),
        ...(run.weight_decay !== undefined ? { weightDecay: run.weight_decay } : {}),
        ...(run.momentum ? { momentum: run.momentum } : {}),
        ...(run.betas ? { betas: run.betas } : {}),
        ...(run.decayOn ? { decayOn: run.decayOn } : {}),
      },
      schedule: run.schedule ? { warmup: run.schedule.warmup, decay: "cosine", floor: run.schedule.floor } : {},
      train: { steps: meta.steps, clipGradNorm: run.clip },
    },
    name,
  );
  const model = mlp({ inputs: 784, hidden: [meta.hidden, meta.hidden], classes: 10 });
  const init = Object.fromEntries(
    Object.entries(tensors)
      .filter(([k]) => k.startsWith("init/"))
      .map(([k, t]) => [k.slice(5), t]),
  );
  model.loadStateDict(init);
  const optimizer = buildOptimizer(config, model);
  const scheduler = new LRScheduler(optimizer, buildSchedule(config, meta.steps));
  const train = new DataLoader(FashionMNIST.load({ split: "train" }), { batchSize: meta.batch, sampler: new FixedBatches() });
  const losses: number[] = [];
  new Trainer({
    model,
    optimizer,
    scheduler,
    task: classification(),
    train,
    clipGradNorm: config.train.clipGradNorm,
    callbacks: [{ onStepEnd: (s) => losses.push(s.loss) }],
  }).fit({ steps: meta.steps });
  return losses;
}

/** Plausible recipe mistakes for a run, each of which must move its curve out of tolerance. */
function mutations(run: Run): [string, Run][] {
  const wrong: [string, Run][] = [];
  if (run.optimizer === "adamw") {
    wrong.push(["no weight decay", { ...run, weight_decay: 0 }], ["weight decay on matrices only", { ...run, decayOn: "matrices" }]);
  } else {
    wrong.push(["weight decay 0.01", { ...run, weight_decay: 0.01 }]);
  }
  if (run.optimizer !== "sgd") wrong.push(["beta2 0.99", { ...run, betas: [0.9, 0.99] }]);
  else wrong.push(["momentum 0.8", { ...run, momentum: 0.8 }]);
  if (run.clip !== null) wrong.push(["no gradient clipping", { ...run, clip: null }], ["clipping at twice the norm", { ...run, clip: 2 * run.clip }]);
  else wrong.push(["clipping at norm 1", { ...run, clip: 1 }]);
  return wrong;
}

for (const [name, run] of Object.entries(meta.runs)) {
  const tolerance = curveTolerance(meta.conditioning[name]!);

  test(`mlp loss curve with ${name} matches PyTorch at every step within 10x the fixture's conditioning`, () => {
    assert.ok(meta.conditioning[name]! < 1e-5, `the fixture's run is unstable under float32 rounding (${meta.conditioning[name]})`);
    const worst = curveDeviation(mlpCurve(name, run), meta.losses[name]!);
    assert.ok(worst <= tolerance, `largest relative difference ${worst.toExponential(2)}, allowed ${tolerance.toExponential(2)}`);
  });

  for (const [mistake, wrong] of mutations(run)) {
    test(`the mlp ${name} curve comparison fails with ${mistake}`, () => {
      const worst = curveDeviation(mlpCurve(name, wrong), meta.losses[name]!);
      assert.ok(worst > tolerance, `with ${mistake} the curve still sits within ${tolerance.toExponential(2)} (${worst.toExponential(2)})`);
    });
  }
}
