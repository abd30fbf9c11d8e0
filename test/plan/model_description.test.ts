import assert from "node:assert/strict";
import { test } from "node:test";

import { GPT } from "../../src/models/gpt.js";
import { cnn } from "../../src/models/cnn.js";
import { mlp } from "../../src/models/mlp.js";
import { describeModel } from "../../src/plan/model_description.js";
import { parseConfig } from "../../src/train/config_file.js";
import { largestParameter, parameterCount } from "../../src/train/model_state_bytes.js";

const modelOf = (model: Record<string, unknown>) => parseConfig({ model, data: { kind: model.kind === "gpt" ? "text" : "fashion-mnist" } }, "test").model;

test("the description's parameter counts equal the built models' (gpt tied and untied, mlp, cnn)", () => {
  // Catches a miscounted layer: a missing bias or LayerNorm, the tied head counted twice, the
  // position embedding forgotten, a conv's bias or the flattened width wrong.
  for (const tiedHead of [true, false]) {
    const m = modelOf({ kind: "gpt", layers: 3, heads: 4, width: 32, context: 16, tiedHead });
    const built = new GPT({ vocabSize: 37, context: 16, layers: 3, heads: 4, width: 32, tiedHead });
    const d = describeModel(m, 37);
    assert.equal(d.parameters, parameterCount(built), `gpt tiedHead ${tiedHead}`);
    assert.equal(d.largestParameter, largestParameter(built), `gpt tiedHead ${tiedHead}: largest`);
    assert.equal(d.layers.length, built.pipelineLayers().length, "one description per pipeline layer");
  }
  const m = modelOf({ kind: "mlp", hidden: [100, 50] });
  const builtMlp = mlp({ inputs: 784, hidden: [100, 50], classes: 10 });
  assert.equal(describeModel(m, 1).parameters, parameterCount(builtMlp));
  assert.equal(describeModel(m, 1).largestParameter, largestParameter(builtMlp));
  const c = modelOf({ kind: "cnn", channels: [8, 16], hidden: 24 });
  assert.equal(describeModel(c, 1).parameters, parameterCount(cnn({ input: [1, 28, 28], channels: [8, 16], hidden: 24, classes: 10 })));
});

test("a gpt's FLOPs per token follow the 6Ψ rule of thumb within the attention term, and tensor-split parameters are the matrices", () => {
  // Catches FLOPs counted per sample instead of per token (T× off) or missing the 2 of a multiply-add.
  const m = modelOf({ kind: "gpt", layers: 2, heads: 4, width: 64, context: 32, tiedHead: false });
  const d = describeModel(m, 50);
  const block = d.layers[1]!;
  assert.equal(block.matmulFlops / 32, 2 * 12 * 64 * 64, "2 FLOPs per weight per token");
  assert.equal(block.splitParameters, 12 * 64 * 64 + 7 * 64, "q, k, v, proj, fc, fcProj weights and the column biases");
  assert.equal(d.layers.at(-1)!.splitParameters, 50 * 64, "the untied head splits by vocabulary");
});
