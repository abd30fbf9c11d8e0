import assert from "node:assert/strict";
import { test } from "node:test";

import { noGrad } from "../../src/autograd/grad_mode.js";
import type { Module } from "../../src/nn/module.js";
import { l1Along } from "../../src/prune/select.js";
import { pruneStructured, structuredModel, structuresOf } from "../../src/prune/structured.js";
import { manualSeed, randint, randn } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import type { Config } from "../../src/train/config.js";
import { modelOfConfig } from "../../src/train/trained_model.js";

/** Zeroes the slices of t (viewed [outer, n, inner]) along the middle axis whose index is not kept. */
function zeroOthers(t: Tensor, view: [number, number, number], kept: number[]): void {
  const v = t.toHost() as Float32Array;
  const [outer, n, inner] = view;
  for (let o = 0; o < outer; o++) for (let j = 0; j < n; j++) if (!kept.includes(j)) v.fill(0, (o * n + j) * inner, (o * n + j + 1) * inner);
  t.version++;
}

function maxDifference(a: Tensor, b: Tensor): number {
  const x = a.toHost() as Float32Array,
    y = b.toHost() as Float32Array;
  assert.equal(x.length, y.length);
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
}

/** The smaller model with the pruned weights, and the full one with the removed units zeroed. */
function both(config: Config["model"], fraction: number, targets: ("conv" | "linear" | "heads")[], vocab = 0) {
  manualSeed(11);
  const full = modelOfConfig(config, vocab);
  const pruned = pruneStructured(config, full.stateDict(), fraction, targets);
  const small = modelOfConfig(pruned.model, vocab);
  small.loadStateDict(pruned.state);
  return { full, small, pruned };
}

const count = (m: Module) => m.parameterCount();

test("a cnn without half its conv channels and hidden neurons gives the outputs of the full one with them zeroed, within 1e-6", () => {
  const config: Config["model"] = { kind: "cnn", channels: [8, 16], hidden: 32, init: "default" };
  const { full, small, pruned } = both(config, 0.5, ["conv", "linear"]);
  assert.deepEqual(pruned.model, { ...config, channels: [4, 8], hidden: 16 });
  // conv 1→4, conv 4→8, fc 8·5·5→16, fc 16→10.
  assert.equal(count(small), 4 * 9 + 4 + (8 * 4 * 9 + 8) + (16 * 200 + 16) + (10 * 16 + 10));
  const norms = l1Along(full.stateDict()["0.weight"]!, [8, 9], 0);
  const keptNorms = pruned.kept["0"]!.map((i) => norms[i]!),
    removedNorms = norms.filter((_, i) => !pruned.kept["0"]!.includes(i));
  assert.ok(Math.min(...keptNorms) >= Math.max(...removedNorms), "a weaker channel was kept");
  const sd = full.stateDict();
  zeroOthers(sd["0.weight"]!, [1, 8, 9], pruned.kept["0"]!);
  zeroOthers(sd["0.bias"]!, [1, 8, 1], pruned.kept["0"]!);
  zeroOthers(sd["3.weight"]!, [1, 16, 8 * 9], pruned.kept["3"]!);
  zeroOthers(sd["3.bias"]!, [1, 16, 1], pruned.kept["3"]!);
  zeroOthers(sd["7.weight"]!, [1, 32, 400], pruned.kept["7"]!);
  zeroOthers(sd["7.bias"]!, [1, 32, 1], pruned.kept["7"]!);
  noGrad(() => {
    const x = randn([3, 1, 28, 28]);
    const difference = maxDifference(full.eval().forward(x), small.eval().forward(x));
    assert.ok(difference < 1e-6, `outputs differ by ${difference}`);
  });
  // Conv channels only: the hidden layer keeps its width and only loses columns.
  const convOnly = both(config, 0.5, ["conv"]);
  assert.deepEqual(convOnly.pruned.model, { ...config, channels: [4, 8] });
  assert.equal(count(convOnly.small), 4 * 9 + 4 + (8 * 4 * 9 + 8) + (32 * 200 + 32) + (10 * 32 + 10));
});

test("an mlp without a quarter of its hidden neurons matches the full one with them zeroed", () => {
  const config: Config["model"] = { kind: "mlp", hidden: [20, 12], init: "default" };
  const { full, small, pruned } = both(config, 0.25, ["linear"]);
  assert.deepEqual(pruned.model, { ...config, hidden: [15, 9] });
  assert.equal(count(small), 784 * 15 + 15 + (15 * 9 + 9) + (9 * 10 + 10));
  const sd = full.stateDict();
  zeroOthers(sd["1.weight"]!, [1, 20, 784], pruned.kept["1"]!);
  zeroOthers(sd["1.bias"]!, [1, 20, 1], pruned.kept["1"]!);
  zeroOthers(sd["3.weight"]!, [1, 12, 20], pruned.kept["3"]!);
  zeroOthers(sd["3.bias"]!, [1, 12, 1], pruned.kept["3"]!);
  noGrad(() => {
    const x = randn([5, 784]);
    const difference = maxDifference(full.forward(x), small.forward(x));
    assert.ok(difference < 1e-6, `outputs differ by ${difference}`);
  });
});

test("a gpt without half its heads (q, k, v rows and projection columns) matches the full one with those heads zeroed", () => {
  const config: Config["model"] = { kind: "gpt", layers: 2, heads: 4, width: 16, context: 8, tiedHead: true, dropout: 0, checkpoint: false };
  const { full, small, pruned } = both(config, 0.5, ["heads"], 11);
  assert.deepEqual(pruned.model, { ...config, heads: 2, headDim: 4 });
  // Each layer loses 2 heads × 4 wide of q, k and v (weights and biases) and of the projection's columns.
  assert.equal(count(full) - count(small), 2 * (3 * 8 * 16 + 3 * 8 + 16 * 8));
  const sd = full.stateDict();
  for (const l of [0, 1]) {
    const kept = pruned.kept[`blocks.${l}.attn`]!;
    assert.equal(kept.length, 2);
    zeroOthers(sd[`blocks.${l}.attn.qkv.weight`]!, [3, 4, 4 * 16], kept);
    zeroOthers(sd[`blocks.${l}.attn.qkv.bias`]!, [3, 4, 4], kept);
  }
  noGrad(() => {
    const idx = randint(0, 11, [2, 8]);
    const difference = maxDifference(full.forward(idx), small.forward(idx));
    assert.ok(difference < 1e-6, `logits differ by ${difference}`);
  });
  assert.throws(() => pruneStructured(config, full.stateDict(), 1, ["heads"]), /fraction 1 must be above 0 and below 1/);
});

test("a gpt without half its MLP neurons (fc rows and biases, fcProj columns) matches the full one with them zeroed; a mixture of experts has none", () => {
  const config: Config["model"] = { kind: "gpt", layers: 2, heads: 2, width: 8, context: 8, tiedHead: true, dropout: 0, checkpoint: false };
  const { full, small, pruned } = both(config, 0.5, ["linear", "heads"], 11);
  assert.deepEqual(pruned.model, { ...config, heads: 1, headDim: 4, mlpHidden: 16 });
  assert.deepEqual(pruned.model, structuredModel(config, 0.5, ["linear", "heads"]));
  // Per layer: 16 fc rows of 8 weights and a bias, 16 fcProj columns of 8; 1 head of 4 in q, k, v (weights, biases) and in proj.
  assert.equal(count(full) - count(small), 2 * (16 * 9 + 16 * 8 + (3 * 4 * 8 + 3 * 4 + 8 * 4)));
  const norms = l1Along(full.stateDict()["blocks.0.fc.weight"]!, [32, 8], 0);
  const kept = pruned.kept["blocks.0.fc"]!;
  assert.ok(Math.min(...kept.map((i) => norms[i]!)) >= Math.max(...norms.filter((_, i) => !kept.includes(i))), "a weaker neuron was kept");
  const sd = full.stateDict();
  for (const l of [0, 1]) {
    zeroOthers(sd[`blocks.${l}.fc.weight`]!, [1, 32, 8], pruned.kept[`blocks.${l}.fc`]!);
    zeroOthers(sd[`blocks.${l}.fc.bias`]!, [1, 32, 1], pruned.kept[`blocks.${l}.fc`]!);
    zeroOthers(sd[`blocks.${l}.attn.qkv.weight`]!, [3, 2, 4 * 8], pruned.kept[`blocks.${l}.attn`]!);
    zeroOthers(sd[`blocks.${l}.attn.qkv.bias`]!, [3, 2, 4], pruned.kept[`blocks.${l}.attn`]!);
  }
  noGrad(() => {
    const idx = randint(0, 11, [2, 8]);
    const difference = maxDifference(full.forward(idx), small.forward(idx));
    assert.ok(difference < 1e-6, `logits differ by ${difference}`);
  });
  assert.deepEqual(structuresOf({ ...config, moe: { experts: 2, topK: 1, capacityFactor: 1.25, drop: true, auxLossWeight: 0.01 } }), ["heads"]);
  assert.deepEqual(structuresOf(config), ["heads", "linear"]);
});
