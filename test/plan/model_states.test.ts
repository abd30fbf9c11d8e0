import assert from "node:assert/strict";
import { test } from "node:test";

import { describeModel } from "../../src/plan/model_description.js";
import { rankMemory } from "../../src/plan/rank_memory.js";
import { zeroPaperBytes } from "../../src/plan/zero_paper.js";
import { parseConfig } from "../../src/train/config_file.js";
import { modelStateBytes } from "../../src/train/model_state_bytes.js";
import { singleLayout } from "../helpers/plan_layout.js";

const config = parseConfig(
  { model: { kind: "gpt", layers: 2, heads: 4, width: 64, context: 32, tiedHead: false }, data: { kind: "text", batchSize: 8 } },
  "test",
);
const model = describeModel(config.model, 50);
const psi = model.parameters;
const base = singleLayout(8);

test("the ZeRO paper's Table 1 exactly: 7.5B parameters, 64 devices, K = 12", () => {
  // Catches a stage partitioning the wrong terms (stage 2 leaving the gradients whole, stage 3 the parameters).
  assert.equal(zeroPaperBytes(7.5e9, 64, 0), 120e9);
  assert.equal(zeroPaperBytes(7.5e9, 64, 1), 31.40625e9);
  assert.equal(zeroPaperBytes(7.5e9, 64, 2), 16.640625e9);
  assert.equal(zeroPaperBytes(7.5e9, 64, 3), 1.875e9);
  assert.equal(zeroPaperBytes(1e9, 8, 1), 2e9 + 2e9 + 1.5e9, "2Ψ + 2Ψ + KΨ/N");
});

test("the planner's model states are modelStateBytes of the rank's share exactly: 16Ψ in f32 on one process, sharded by ZeRO over the data ranks", () => {
  // Catches a planner with its own (drifting) copy of the formulas, or sharding over the wrong degree.
  const one = rankMemory(config, model, base);
  assert.equal(one.modelStates.resident, 16 * psi, "f32 parameters, gradients, two Adam moments");
  for (const zero of [0, 1, 2, 3] as const) {
    const layout = { ...base, data: 4, zero };
    const planned = rankMemory(config, model, layout).modelStates;
    const L = model.largestParameter;
    const units = zero === 3 ? { bucketElements: L, gatheredElements: 2 * L } : {};
    assert.deepEqual(planned, modelStateBytes({ parameters: psi, largestParameter: L, ranks: 4, stage: zero, ...units }), `zero ${zero}`);
    assert.equal(rankMemory(config, model, layout).zeroPaper, zeroPaperBytes(psi, 4, zero));
  }
  assert.equal(rankMemory(config, model, { ...base, data: 4, zero: 3 }).modelStates.optimizer, 8 * Math.ceil(psi / 4), "8Ψ/N of Adam moments at stage 3");
});

test("tensor parallelism divides only the split parameters, and data parallelism beside it divides nothing more (DeepSpeed 6796)", () => {
  // Catches dividing every parameter by the tensor size, or by the device count twice.
  const block = model.layers[1]!;
  const replicated = model.layers.reduce((n, l) => n + l.parameters - l.splitParameters, 0);
  const split = model.layers.reduce((n, l) => n + l.splitParameters, 0);
  assert.ok(block.splitParameters > 0 && replicated > 0);
  const t2 = rankMemory(config, model, { ...base, tensor: 2, data: 2 });
  assert.equal(t2.modelStates.parameters, 4 * (replicated + split / 2));
});

test("mixed precision adds the 2-byte copies of the low-precision weights to the parameters", () => {
  // Catches the bf16 copies forgotten (turbine keeps them beside the f32 master weights).
  const bf16 = parseConfig({ ...config, train: { ...config.train, precision: "bfloat16" } }, "test");
  const planned = rankMemory(bf16, model, base).modelStates.parameters;
  assert.equal(planned, 4 * psi + 2 * model.lowPrecisionParameters);
});
