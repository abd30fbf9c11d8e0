import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { DataLoader } from "../../src/data/dataloader.js";
import { ArrayDataset } from "../../src/data/dataset.js";
import { collateTokens, type TokenWindow } from "../../src/data/text.js";
import { GPT } from "../../src/models/gpt.js";
import { AdamW } from "../../src/optim/adamw.js";
import { memory } from "../../src/tensor/memory.js";
import { manualSeed } from "../../src/tensor/random.js";
import { measuredModelStateBytes, modelStateBytes, parameterCount, type ModelStateBytes } from "../../src/train/model_state_bytes.js";
import { languageModel } from "../../src/train/task.js";
import { Trainer } from "../../src/train/trainer.js";

const work = mkdtempSync(join(tmpdir(), "turbine-model-state-"));
after(() => rmSync(work, { recursive: true, force: true }));

function windows(count: number): TokenWindow[] {
  let state = 7;
  const token = () => (state = (state * 1103515245 + 12345) % 2 ** 31) % 23;
  return Array.from({ length: count }, () => {
    const run = Int32Array.from({ length: 17 }, token);
    return { x: run.slice(0, 16), y: run.slice(1) };
  });
}

/** Two AdamW steps of a small GPT; the tracker's model-state peaks and the formula's figures. */
function measure(offload: boolean): { measured: ModelStateBytes; formula: ModelStateBytes } {
  manualSeed(1);
  const model = new GPT({ vocabSize: 23, context: 16, layers: 2, heads: 2, width: 48 });
  const optimizer = new AdamW(model.parameters(), { lr: 1e-3 });
  if (offload) optimizer.offloadState(join(work, "rank0.bin"));
  // As runTraining does: the peaks start once the model is built (building passes through copies).
  memory.resetPeak();
  const train = new DataLoader(new ArrayDataset(windows(16)), { batchSize: 4, collate: collateTokens });
  new Trainer({ model, optimizer, task: languageModel(), train }).fit({ steps: 2 });
  // The tracker's peaks cover this thread's every tensor: this test holds no other parameters.
  const measured = measuredModelStateBytes(memory.report(), optimizer);
  optimizer.zeroGrad();
  for (const t of [...model.parameters(), ...Object.values(optimizer.stateDict().state).flatMap((s) => Object.values(s.tensors))]) t.dispose();
  optimizer.closeOffload();
  return { measured, formula: modelStateBytes({ parameters: parameterCount(model), offload: offload ? "disk" : "none" }) };
}

function assertWithin5Percent(measured: ModelStateBytes, formula: ModelStateBytes): void {
  for (const key of ["parameters", "gradients", "optimizer", "offloaded", "resident"] as const) {
    const [m, f] = [measured[key], formula[key]];
    assert.ok(Math.abs(m - f) <= 0.05 * Math.max(f, 1), `${key}: the tracker measured ${m} bytes, the formula says ${f}`);
  }
}

test("one process: the tracker's model-state bytes equal modelStateBytes within 5%, with and without disk offload", () => {
  // Catches offloaded moments still held in memory (optimizer would be 8Ψ, not 0) and a formula
  // that forgets the gradients or counts the master weights twice.
  const resident = measure(false);
  assertWithin5Percent(resident.measured, resident.formula);
  const offloaded = measure(true);
  assertWithin5Percent(offloaded.measured, offloaded.formula);
  assert.equal(offloaded.measured.optimizer, 0);
});

test("modelStateBytes: 16Ψ on one process; the optimizer state sharded from stage 1, gradients from 2, parameters at 3, padded", () => {
  const psi = 1001,
    S = 251; // ⌈1001 / 4⌉
  assert.equal(modelStateBytes({ parameters: psi }).resident, 16 * psi);
  const layout = { parameters: psi, largestParameter: 100, bucketElements: 200, ranks: 4 };
  assert.deepEqual(modelStateBytes({ ...layout, stage: 0 }), {
    parameters: 4 * psi,
    gradients: 4 * psi + 800,
    optimizer: 8 * psi,
    offloaded: 0,
    resident: 16 * psi + 800,
  });
  assert.deepEqual(modelStateBytes({ ...layout, stage: 1 }), {
    parameters: 8 * psi + 4 * S,
    gradients: 4 * psi + 4 * S + 400,
    optimizer: 8 * S,
    offloaded: 0,
    resident: 12 * psi + 16 * S + 400,
  });
  assert.equal(modelStateBytes({ ...layout, stage: 2 }).gradients, 4 * S + 400 + 800);
  assert.deepEqual(modelStateBytes({ ...layout, stage: 3 }), {
    parameters: 4 * S + 1600,
    gradients: 4 * S + 1200,
    optimizer: 8 * S,
    offloaded: 0,
    resident: 16 * S + 2800,
  });
  assert.equal(modelStateBytes({ parameters: psi, lowPrecisionParameters: 100 }).parameters, 4 * psi + 200);
  // Under bf16 a ZeRO-3 unit is gathered as bf16 and kept with its f32 upcast: 6 bytes per gathered element.
  assert.equal(modelStateBytes({ ...layout, stage: 3, lowPrecisionParameters: 100 }).parameters, 4 * S + 6 * 400);
  // Offloaded masters leave the parameters column for the file, at stage 0 only.
  const masters = { parameters: psi, lowPrecisionParameters: 100, offload: "disk" as const, offloadedMasters: 80 };
  assert.deepEqual(modelStateBytes(masters), {
    parameters: 4 * (psi - 80) + 200,
    gradients: 4 * psi,
    optimizer: 0,
    offloaded: 8 * psi + 320,
    resident: 8 * psi - 320 + 200,
  });
  assert.equal(modelStateBytes({ ...masters, ranks: 2, stage: 1 }).offloaded, 8 * Math.ceil(psi / 2));
  assert.deepEqual(modelStateBytes({ parameters: psi, offload: "disk" }), {
    parameters: 4 * psi,
    gradients: 4 * psi,
    optimizer: 0,
    offloaded: 8 * psi,
    resident: 8 * psi,
  });
  assert.throws(() => modelStateBytes({ parameters: psi, ranks: 0 }), /ranks must be an integer ≥ 1, got 0/);
});
