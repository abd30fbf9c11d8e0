import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { DataLoader } from "../../src/data/dataloader.js";
import { ArrayDataset } from "../../src/data/dataset.js";
import type { Sampler } from "../../src/data/sampler.js";
import { collateTokens, type TokenWindow } from "../../src/data/text.js";
import { GPT } from "../../src/models/gpt.js";
import { AdamW } from "../../src/optim/adamw.js";
import { SGD } from "../../src/optim/sgd.js";
import { disposeState } from "../../src/parallel/state.js";
import { SingleProcess } from "../../src/parallel/strategy.js";
import { memory } from "../../src/tensor/memory.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { manualSeed } from "../../src/tensor/random.js";
import { microBatchesOfStep, stepsPerEpoch } from "../../src/train/accumulate.js";
import { buildRun } from "../../src/train/build.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";
import { parseConfig } from "../../src/train/config_file.js";
import { runTraining } from "../../src/train/run.js";
import { languageModel } from "../../src/train/task.js";
import { Trainer } from "../../src/train/trainer.js";

const work = mkdtempSync(join(tmpdir(), "turbine-accumulate-"));
after(() => rmSync(work, { recursive: true, force: true }));

const VOCAB = 23,
  CONTEXT = 16;

/** Random token windows (fixed by the seed). */
function windows(count: number): TokenWindow[] {
  let state = 12345;
  const token = () => (state = (state * 1103515245 + 12345) % 2 ** 31) % VOCAB;
  return Array.from({ length: count }, () => {
    const run = Int32Array.from({ length: CONTEXT + 1 }, token);
    return { x: run.slice(0, CONTEXT), y: run.slice(1) };
  });
}

const inOrder = (n: number): Sampler => ({ length: n, epochIndices: () => Int32Array.from({ length: n }, (_, i) => i) });

function gpt(): GPT {
  manualSeed(3);
  return new GPT({ vocabSize: VOCAB, context: CONTEXT, layers: 2, heads: 2, width: 32 });
}

/** One optimizer step of plain SGD over the first 32 windows, as batchSize × accumulate. */
function oneStep(batchSize: number, accumulate: number) {
  const model = gpt();
  const before = model.parameters().map((p) => Float32Array.from(p.data as Float32Array));
  const data = windows(32);
  const train = new DataLoader(new ArrayDataset(data), { batchSize, sampler: inOrder(32), collate: collateTokens });
  const losses: number[] = [];
  memory.resetPeak();
  const base = memory.report().current.activation;
  const result = new Trainer({
    model,
    optimizer: new SGD(model.parameters(), { lr: 0.5 }),
    task: languageModel(),
    train,
    accumulate,
    callbacks: [{ onStepEnd: (s) => losses.push(s.loss) }],
  }).fit({ steps: 1 });
  const peakActivation = memory.report().peak.activation - base;
  const updates = model.parameters().map((p, i) => (p.data as Float32Array).map((v, j) => v - before[i]![j]!));
  return { result, losses, peakActivation, updates, position: train.state() };
}

function relativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0,
    norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += a[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}

// SGD makes the update the gradient itself; Adam's first step, lr·g/|g|, would hide differences.
test("4 micro-batches of 8 give the update of a batch of 32 within 1e-5, in the activation memory of a batch of 8", () => {
  const big = oneStep(32, 1);
  const accumulated = oneStep(8, 4);
  const small = oneStep(8, 1);
  accumulated.updates.forEach((u, i) => {
    const rel = relativeDifference(big.updates[i]!, u);
    assert.ok(rel <= 1e-5, `parameter ${i}: relative difference ${rel.toExponential(2)} of the update`);
    assert.ok(Math.max(...u.map(Math.abs)) > 0, "every parameter moved");
  });
  assert.ok(Math.abs(accumulated.losses[0]! - big.losses[0]!) <= 1e-6 * big.losses[0]!, `loss ${accumulated.losses[0]} vs ${big.losses[0]}`);
  assert.equal(accumulated.result.steps, 1);
  assert.equal(accumulated.result.throughput > 0, true);
  assert.deepEqual(accumulated.position, { epoch: 0, batchIndex: 4 }, "one step took four micro-batches");
  const ratio = accumulated.peakActivation / small.peakActivation;
  assert.ok(ratio <= 1.3, `peak activations: ${accumulated.peakActivation} accumulating vs ${small.peakActivation} for one batch of 8`);
  assert.ok(big.peakActivation > 2.5 * small.peakActivation, "the batch of 32 does need more (the comparison can fail)");
});

test("steps never span an epoch: 10 micro-batches make steps of 4, 4 and 2", () => {
  assert.equal(stepsPerEpoch(10, 4), 3);
  assert.equal(stepsPerEpoch(8, 4), 2);
  assert.deepEqual(
    [0, 4, 8, 10].map((i) => microBatchesOfStep(i, 10, 4)),
    [4, 4, 2, 0],
  );
  const model = gpt();
  const train = new DataLoader(new ArrayDataset(windows(20)), { batchSize: 2, shuffle: true, seed: 1, collate: collateTokens });
  const positions: string[] = [];
  const trainer = new Trainer({
    model,
    optimizer: new SGD(model.parameters(), { lr: 0.1 }),
    task: languageModel(),
    train,
    accumulate: 4,
    callbacks: [{ onStepEnd: (s) => positions.push(`${s.step}:${s.epoch}:${train.state().batchIndex}`) }],
  });
  const result = trainer.fit({ epochs: 2 });
  assert.deepEqual(positions, ["1:0:4", "2:0:8", "3:0:10", "4:1:4", "5:1:8", "6:1:10"]);
  assert.equal(result.epochs, 2);
  assert.equal(result.steps, 6);
  assert.throws(() => new Trainer({ ...trainer.options, accumulate: 0 }), /Trainer: accumulate must be a positive integer, got 0/);
  assert.throws(() => new Trainer({ ...trainer.options, accumulate: 1.5 }), /got 1\.5/);
});

test("with accumulation, all but the last micro-batch of each step run backward through the strategy without sync", () => {
  /** One epoch of 10 micro-batches in steps of 4, 4 and 2; the unsynced backwards of each step. */
  const model = gpt();
  const train = new DataLoader(new ArrayDataset(windows(20)), { batchSize: 2, shuffle: true, seed: 1, collate: collateTokens });
  let unsynced = 0;
  const perStep: number[] = [];
  class Recording extends SingleProcess {
    override backward(loss: Tensor, options: { sync?: boolean } = {}): void {
      if (options.sync === false) unsynced++;
      super.backward(loss);
    }
  }
  const onStepEnd = (): void => {
    perStep.push(unsynced);
    unsynced = 0;
  };
  const strategy = new Recording(model);
  const trainer = new Trainer({
    model,
    optimizer: new SGD(model.parameters(), { lr: 0.1 }),
    task: languageModel(),
    train,
    accumulate: 4,
    strategy,
    callbacks: [{ onStepEnd }],
  });
  assert.equal(trainer.strategy, strategy);
  trainer.fit({ epochs: 1 });
  assert.deepEqual(perStep, [3, 3, 1]);
  assert.ok(new Trainer({ ...trainer.options, strategy: undefined }).strategy instanceof SingleProcess, "one process by default");
  assert.throws(() => new Trainer({ ...trainer.options, strategy: new SingleProcess(gpt()) }), /the strategy was made for another model/);
});

test("resuming between accumulated steps continues exactly as an uninterrupted run", () => {
  const run = (stopAt: number | null) => {
    const model = gpt();
    const optimizer = new AdamW(model.parameters(), { lr: 1e-2 });
    const train = new DataLoader(new ArrayDataset(windows(20)), { batchSize: 4, shuffle: true, seed: 2, collate: collateTokens });
    const options = { model, optimizer, task: languageModel(), train, accumulate: 2, clipGradNorm: 1 };
    const trainer = new Trainer(options);
    if (stopAt !== null) {
      trainer.fit({ steps: stopAt });
      const dir = join(work, `at-${stopAt}`);
      const content = trainer.checkpointContent();
      saveCheckpoint(dir, content);
      disposeState(content.state);
      const fresh = gpt();
      const resumed = new Trainer({
        ...options,
        model: fresh,
        optimizer: new AdamW(fresh.parameters(), { lr: 1e-2 }),
        train: new DataLoader(train.dataset, { batchSize: 4, shuffle: true, seed: 2, collate: collateTokens }),
      });
      const checkpoint = loadCheckpoint(dir);
      resumed.restore(checkpoint);
      checkpoint.close();
      resumed.fit({ steps: 5 });
      return fresh.parameters().map((p) => Array.from(p.data));
    }
    trainer.fit({ steps: 5 });
    return model.parameters().map((p) => Array.from(p.data));
  };
  const straight = run(null);
  // Step 3 ends the first epoch with one micro-batch; stopping after it and within the next epoch both resume exactly.
  assert.deepEqual(run(3), straight);
  assert.deepEqual(run(4), straight);
});

test("train.accumulate and model.checkpoint reach a run built from a config", () => {
  const text = join(work, "corpus.txt");
  writeFileSync(text, "In the beginning God created the heaven and the earth. ".repeat(40));
  const config = parseConfig(
    {
      outDir: join(work, "runs"),
      model: { kind: "gpt", layers: 1, heads: 2, width: 16, context: 8, checkpoint: true },
      data: { kind: "text", path: text, batchSize: 2, batchesPerEpoch: 5, valBatches: 1 },
      train: { epochs: 1, accumulate: 2 },
    },
    "test",
  );
  const parts = buildRun(config);
  assert.equal((parts.model as GPT).config.checkpoint, true);
  assert.equal(parts.totalSteps, 3, "5 micro-batches in steps of 2, 2 and 1");
  const summary = runTraining(config);
  assert.equal(summary.steps, 3);
  assert.deepEqual(loadCheckpoint(summary.checkpoint!).meta.data, { epoch: 0, batchIndex: 5 }, "all five micro-batches of the epoch were used");
  assert.ok(summary.peak_bytes.activation > 0);
});
