import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { DataLoader } from "../../src/data/dataloader.js";
import { ArrayDataset } from "../../src/data/dataset.js";
import { cnn } from "../../src/models/cnn.js";
import { mlp } from "../../src/models/mlp.js";
import type { Module } from "../../src/nn/module.js";
import { SGD } from "../../src/optim/sgd.js";
import { type MaskPruneOptions, Pruner } from "../../src/prune/pruner.js";
import { cubicSparsity } from "../../src/prune/schedule.js";
import { manualSeed } from "../../src/tensor/random.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";
import { classification } from "../../src/train/task.js";
import { Trainer } from "../../src/train/trainer.js";

const work = mkdtempSync(join(tmpdir(), "turbine-prune-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** 64 random 12-value samples of 3 classes (fixed). */
function samples() {
  let s = 7;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: 64 }, () => ({ image: Float32Array.from({ length: 12 }, () => next() * 2 - 1), label: Math.floor(next() * 3) }));
}

const MAGNITUDE: MaskPruneOptions = { kind: "magnitude", sparsity: 0.75, scope: "layer", n: 2, m: 4, schedule: { start: 2, end: 10, every: 2 } };

function run(options: MaskPruneOptions, steps: number, onStep: (step: number, model: Module, pruner: Pruner) => void = () => {}) {
  manualSeed(5);
  const model = mlp({ inputs: 12, hidden: [16, 8], classes: 3 });
  // Momentum keeps moving a weight after its gradient is masked: without the mask after each step it regrows.
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const pruner = new Pruner(model, options);
  const train = new DataLoader(new ArrayDataset(samples()), { batchSize: 8, shuffle: true, seed: 1 });
  const trainer = new Trainer({ model, optimizer, task: classification(), train, pruner, callbacks: [{ onStepEnd: (s) => onStep(s.step, model, pruner) }] });
  return { model, optimizer, pruner, train, trainer, fit: () => trainer.fit({ steps }) };
}

const weightsOf = (model: Module) =>
  model
    .namedParameters()
    .filter(([n]) => n.endsWith("weight"))
    .map(([n, p]) => [n, p.toHost() as Float32Array] as const);

test("magnitude pruning in the Trainer: each layer holds exactly floor(s_t · n) zeros at every step of the cubic schedule, and pruned weights never regrow", () => {
  let previous = new Map<string, Uint8Array>();
  const seen: number[] = [];
  const { fit } = run(MAGNITUDE, 14, (step, model, pruner) => {
    const target = cubicSparsity(step, MAGNITUDE.schedule, 0.75);
    seen.push(target);
    const masks = pruner.masks();
    for (const [name, w] of weightsOf(model)) {
      const zeros = w.reduce((n, v) => n + (v === 0 ? 1 : 0), 0);
      assert.equal(zeros, Math.floor(target * w.length + 1e-9), `${name} at step ${step}`);
      const mask = masks.get(name);
      if (!mask) continue;
      for (let i = 0; i < w.length; i++) if (mask[i] === 0) assert.equal(w[i], 0, `${name}[${i}] regrew at step ${step}`);
      const before = previous.get(name);
      if (before) for (let i = 0; i < w.length; i++) if (before[i] === 0) assert.equal(mask[i], 0, `${name}[${i}] came back at step ${step}`);
    }
    previous = new Map([...masks].map(([n, m]) => [n, Uint8Array.from(m)]));
  });
  fit();
  // The schedule was walked through: 0 before start, rising on update steps, final from end on.
  assert.deepEqual(seen.slice(0, 3), [0, 0, cubicSparsity(3, MAGNITUDE.schedule, 0.75)]);
  assert.equal(seen.at(-1), 0.75);
});

test("global magnitude pruning reaches the sparsity over all weights together; nm leaves a 2:4 pattern and a 1-channel conv dense", () => {
  const { fit, pruner, model } = run({ ...MAGNITUDE, scope: "global" }, 12);
  fit();
  const all = weightsOf(model);
  const total = all.reduce((n, [, w]) => n + w.length, 0);
  const zeros = all.reduce((n, [, w]) => n + w.reduce((z, v) => z + (v === 0 ? 1 : 0), 0), 0);
  assert.equal(zeros, Math.floor(0.75 * total));
  assert.equal(pruner.sparsity(), zeros / total);
  const perLayer = all.map(([, w]) => w.reduce((z, v) => z + (v === 0 ? 1 : 0), 0) / w.length);
  assert.ok(Math.max(...perLayer) - Math.min(...perLayer) > 0.01, `global scope pruned every layer alike: ${perLayer}`);

  const nm = run({ ...MAGNITUDE, kind: "nm", schedule: { start: 3, end: 3, every: 1 } }, 6, (step, m) => {
    for (const [name, w] of weightsOf(m)) {
      const inputs = w.length / (name === "1.weight" ? 16 : name === "3.weight" ? 8 : 3);
      for (let g = 0; g < w.length; g += 4) {
        const nonzero = [0, 1, 2, 3].filter((j) => w[g + j] !== 0).length;
        if (step < 3) assert.ok(nonzero > 2, `${name} pruned before start`);
        else assert.equal(nonzero, 2, `${name} group ${g} at step ${step} (inputs ${inputs})`);
      }
    }
  });
  nm.fit();
  manualSeed(1);
  const conv = new Pruner(cnn({ input: [1, 28, 28], channels: [4, 8], hidden: 8, classes: 10 }), { ...MAGNITUDE, kind: "nm" });
  assert.deepEqual(conv.skipped, ["0.weight"]);
});

test("the masks go into checkpoints: a run resumed from step 6 ends with the weights of an uninterrupted 12-step run, bit for bit", () => {
  const whole = run(MAGNITUDE, 12);
  whole.fit();
  const first = run(MAGNITUDE, 6);
  first.fit();
  const dir = join(work, "step-6");
  saveCheckpoint(dir, first.trainer.checkpointContent());
  const second = run(MAGNITUDE, 12);
  const checkpoint = loadCheckpoint(dir);
  try {
    second.trainer.restore(checkpoint);
  } finally {
    checkpoint.close();
  }
  assert.deepEqual([...second.pruner.masks().keys()], ["1.weight", "3.weight", "5.weight"]);
  second.fit();
  const expected = whole.model.stateDict();
  for (const [name, t] of Object.entries(second.model.stateDict())) assert.deepEqual(t.toHost(), expected[name]!.toHost(), name);
  // Without its masks the resumed run differs (step 7 updates no mask, so momentum moves the pruned weights and the next forward differs).
  const maskless = run(MAGNITUDE, 12);
  const again = loadCheckpoint(dir);
  try {
    maskless.trainer.restore({ ...again, meta: { ...again.meta, prune: undefined } });
  } finally {
    again.close();
  }
  maskless.fit();
  const differs = Object.entries(maskless.model.stateDict()).some(
    ([name, t]) => !(t.toHost() as Float32Array).every((v, i) => v === expected[name]!.toHost()[i]),
  );
  assert.ok(differs, "the masks made no difference to the resumed run");
});
