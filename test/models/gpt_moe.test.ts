import assert from "node:assert/strict";
import { test } from "node:test";

import { backward } from "../../src/autograd/backward.js";
import { GPT } from "../../src/models/gpt.js";
import { MixtureOfExperts } from "../../src/nn/moe.js";
import { AdamW } from "../../src/optim/adamw.js";
import { fromTypedArray } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import { buildRun } from "../../src/train/build.js";
import { parseConfig } from "../../src/train/config_file.js";
import { languageModel } from "../../src/train/task.js";

const tokens = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => (i * 7 + seed * 3) % 11);

test("gpt with model.moe (4 experts, top-2, dropping): every block routes through experts, gradients reach router and experts, 30 AdamW steps fit a batch", () => {
  manualSeed(3);
  const gpt = new GPT({
    vocabSize: 11,
    context: 8,
    layers: 2,
    heads: 2,
    width: 16,
    moe: { experts: 4, topK: 2, capacityFactor: 1.25, drop: true, auxLossWeight: 0.01 },
  });
  const names = gpt.namedParameters().map(([n]) => n);
  assert.ok(names.includes("blocks.1.moe.router.weight") && names.includes("blocks.0.moe.experts.3.fcProj.weight"));
  assert.ok(!names.some((n) => n.endsWith(".fc.weight") && !n.includes("experts")), "the dense MLP is gone");
  const x = fromTypedArray(Int32Array.from(tokens(32, 1)), [4, 8]),
    y = fromTypedArray(Int32Array.from(tokens(32, 2)), [4, 8]);
  const task = languageModel(),
    optimizer = new AdamW(gpt.parameters(), { lr: 3e-3, weightDecay: 0 });
  const losses: number[] = [];
  for (let step = 0; step < 30; step++) {
    tidy(() => {
      const loss = task.loss(gpt, { x, y });
      losses.push(loss.item());
      backward(loss);
      if (step === 0) {
        for (const block of [0, 1]) {
          const router = gpt.namedParameters().find(([n]) => n === `blocks.${block}.moe.router.weight`)![1];
          assert.ok(
            router.grad?.toArray().some((g) => g !== 0),
            `block ${block}: the router gets a gradient`,
          );
        }
        const moe = gpt.namedModules().find(([, m]) => m instanceof MixtureOfExperts)![1] as MixtureOfExperts;
        // Switch's balance loss is ≥ 1 up to the gap between choice shares and mean probabilities.
        assert.ok(moe.auxLoss!.item() > 0.5);
      }
      optimizer.step();
      optimizer.zeroGrad();
    });
  }
  assert.ok(losses[29]! < losses[0]! * 0.6, `loss ${losses[0]} → ${losses[29]}`);
});

test("config: model.moe with topK above experts, or with tensor parallelism, is refused naming the value", () => {
  const config = (moe: object, parallel: object = {}) =>
    parseConfig({ model: { kind: "gpt", moe }, data: { kind: "text", path: "missing.txt" }, parallel }, "test");
  assert.throws(() => buildRun(config({ experts: 2, topK: 3 })), /model.moe.topK 3 exceeds model.moe.experts 2/);
  assert.throws(() => buildRun(config({ experts: 2 }, { tensor: 2 })), /model.moe runs with data parallelism only/);
  assert.throws(() => config({ experts: 0 }), /experts/);
});
