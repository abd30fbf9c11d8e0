import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";

import { loadTextCorpus } from "../../src/data/corpus.js";
import { DataLoader } from "../../src/data/dataloader.js";
import { ArrayDataset } from "../../src/data/dataset.js";
import type { Sampler } from "../../src/data/sampler.js";
import { collateTokens, type TokenWindow } from "../../src/data/text.js";
import { generate } from "../../src/models/generate.js";
import { GPT } from "../../src/models/gpt.js";
import { LRScheduler } from "../../src/optim/schedule.js";
import { noGrad } from "../../src/autograd/grad_mode.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import { loadSafetensors } from "../../src/tensor/safetensors.js";
import { buildOptimizer, buildSchedule } from "../../src/train/build.js";
import { parseConfig } from "../../src/train/config_file.js";
import { languageModel } from "../../src/train/task.js";
import { Trainer } from "../../src/train/trainer.js";
import { curveDeviation, curveTolerance } from "../helpers/curve.js";
import { fixturesDir } from "../helpers/paths.js";

// test/fixtures/runs_gpt.py: a small GPT of the workload's structure trained 20 steps in PyTorch.
const { tensors, metadata } = loadSafetensors(join(fixturesDir(), "runs", "gpt.safetensors"));
const meta = JSON.parse(metadata.meta!) as {
  steps: number;
  batch: number;
  context: number;
  layers: number;
  heads: number;
  width: number;
  vocab: number;
  recipe: { lr: number; betas: [number, number]; weight_decay: number; clip: number | null; warmup: number; floor: number };
  losses: number[];
  conditioning: number;
};

type Recipe = typeof meta.recipe & { decayOn: "all" | "matrices" };
const recipe: Recipe = { ...meta.recipe, decayOn: "matrices" };

/** turbine's loss curve for the fixture's weights and windows, trained with `r`. */
function gptCurve(r: Recipe): number[] {
  const corpus = loadTextCorpus({ context: meta.context });
  assert.equal(corpus.tokenizer.vocabSize, meta.vocab, "the same character vocabulary as PyTorch's side");
  const starts = tensors.starts!.data as Int32Array;
  const windows: TokenWindow[] = Array.from(starts, (s) => ({
    x: corpus.tokens.slice(s, s + meta.context),
    y: corpus.tokens.slice(s + 1, s + 1 + meta.context),
  }));
  const fixed: Sampler = { length: windows.length, epochIndices: () => Int32Array.from(windows.keys()) };
  const train = new DataLoader(new ArrayDataset(windows), { batchSize: meta.batch, sampler: fixed, collate: collateTokens });
  const model = new GPT({ vocabSize: meta.vocab, context: meta.context, layers: meta.layers, heads: meta.heads, width: meta.width });
  model.loadStateDict(
    Object.fromEntries(
      Object.entries(tensors)
        .filter(([k]) => k.startsWith("init/"))
        .map(([k, t]) => [k.slice(5), t]),
    ),
  );
  const config = parseConfig(
    {
      model: { kind: "gpt", layers: meta.layers, heads: meta.heads, width: meta.width, context: meta.context },
      data: { kind: "text", batchSize: meta.batch },
      optimizer: { kind: "adamw", lr: r.lr, betas: r.betas, weightDecay: r.weight_decay, decayOn: r.decayOn },
      schedule: { warmup: r.warmup, decay: "cosine", floor: r.floor },
      train: { steps: meta.steps, clipGradNorm: r.clip },
    },
    "gpt fixture",
  );
  const optimizer = buildOptimizer(config, model);
  const losses: number[] = [];
  new Trainer({
    model,
    optimizer,
    scheduler: new LRScheduler(optimizer, buildSchedule(config, meta.steps)),
    task: languageModel(),
    train,
    clipGradNorm: config.train.clipGradNorm,
    callbacks: [{ onStepEnd: (s) => losses.push(s.loss) }],
  }).fit({ steps: meta.steps });
  return losses;
}

const tolerance = curveTolerance(meta.conditioning);

test(`the gpt loss curve matches PyTorch's from the same weights and windows, within 10x the fixture's conditioning for 20 steps`, () => {
  assert.ok(meta.conditioning < 1e-6, `the fixture's run is unstable under float32 rounding (${meta.conditioning})`);
  const worst = curveDeviation(gptCurve(recipe), meta.losses);
  assert.ok(worst <= tolerance, `largest relative difference ${worst.toExponential(2)}, allowed ${tolerance.toExponential(2)}`);
});

// A test of the test: the same comparison with a plausible recipe mistake must fail.
const mutations: [string, Recipe][] = [
  ["weight decay on every parameter", { ...recipe, decayOn: "all" }],
  ["no weight decay", { ...recipe, weight_decay: 0 }],
  ["beta2 0.999", { ...recipe, betas: [0.9, 0.999] }],
  ["no gradient clipping", { ...recipe, clip: null }],
  ["clipping at twice the norm", { ...recipe, clip: 2 * recipe.clip! }],
];
for (const [mistake, wrong] of mutations) {
  test(`the gpt curve comparison fails with ${mistake}`, () => {
    const worst = curveDeviation(gptCurve(wrong), meta.losses);
    assert.ok(worst > tolerance, `with ${mistake} the curve still sits within ${tolerance.toExponential(2)} (${worst.toExponential(2)})`);
  });
}

test("GPT validates its shape and input, and sampling is seeded and stays in the vocabulary", () => {
  assert.throws(() => new GPT({ vocabSize: 10, context: 8, layers: 1, heads: 3, width: 16 }), /width 16 is not a multiple of heads 3/);
  const model = new GPT({ vocabSize: 10, context: 8, layers: 1, heads: 2, width: 16 });
  assert.throws(() => noGrad(() => model.forward(tensor([[1.5, 2]]))), /input must be int32 token ids \[B, T\], got float32 \[1, 2\]/);
  assert.throws(() => noGrad(() => model.forward(tensor([Array(9).fill(1)], { dtype: "int32" }))), /sequence of 9 tokens exceeds the context of 8/);
  const prompt = Int32Array.from([1, 2, 3]);
  const a = generate(model, prompt, { tokens: 20, topK: 3, seed: 5 });
  const b = generate(model, prompt, { tokens: 20, topK: 3, seed: 5 });
  assert.deepEqual([...a], [...b]);
  assert.equal(a.length, 23);
  assert.ok([...a].every((t) => t >= 0 && t < 10));
  assert.deepEqual([...a.slice(0, 3)], [1, 2, 3]);
  assert.throws(() => generate(model, new Int32Array(0), { tokens: 1 }), /the prompt is empty/);
  assert.throws(() => generate(model, prompt, { tokens: 1, topK: 11 }), /topK must be an integer in \[0, 10\]/);
  assert.throws(() => generate(model, prompt, { tokens: 1, temperature: -1 }), /temperature must be a finite number ≥ 0/);
});

test("generate at temperature 0 is greedy: each token is the argmax of the logits after the text so far, whatever the seed", () => {
  manualSeed(3);
  const model = new GPT({ vocabSize: 10, context: 8, layers: 1, heads: 2, width: 16 });
  const prompt = Int32Array.from([4, 1]);
  const out = generate(model, prompt, { tokens: 12, temperature: 0, seed: 1 });
  assert.deepEqual([...generate(model, prompt, { tokens: 12, temperature: 0, seed: 99 })], [...out]);
  for (let n = prompt.length; n < out.length; n++) {
    const window = [...out.slice(Math.max(0, n - 8), n)];
    const logits = noGrad(() => tidy(() => model.forward(tensor([window], { dtype: "int32" })).toArray())).slice((window.length - 1) * 10);
    assert.equal(out[n], logits.indexOf(Math.max(...logits)), `token ${n}`);
  }
});

test("generate with topK 0 samples from every token, as without topK (Hugging Face's 0 = disabled)", () => {
  const model = new GPT({ vocabSize: 10, context: 8, layers: 1, heads: 2, width: 16 });
  const prompt = Int32Array.from([1, 2, 3]);
  assert.deepEqual([...generate(model, prompt, { tokens: 30, topK: 0, seed: 2 })], [...generate(model, prompt, { tokens: 30, seed: 2 })]);
  assert.notDeepEqual([...generate(model, prompt, { tokens: 30, topK: 1, seed: 2 })], [...generate(model, prompt, { tokens: 30, seed: 2 })]);
});
