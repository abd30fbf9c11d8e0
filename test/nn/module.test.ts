import assert from "node:assert/strict";
import { test } from "node:test";

import { noGrad } from "../../src/autograd/grad_mode.js";
import { Sequential } from "../../src/nn/containers.js";
import { Conv2d } from "../../src/nn/conv.js";
import { Embedding } from "../../src/nn/embedding.js";
import { init } from "../../src/nn/init.js";
import { Dropout, Flatten, ReLU } from "../../src/nn/layers.js";
import { Linear } from "../../src/nn/linear.js";
import { Module } from "../../src/nn/module.js";
import { BatchNorm2d, LayerNorm } from "../../src/nn/normalization.js";
import { cnn } from "../../src/models/cnn.js";
import { mlp } from "../../src/models/mlp.js";
import * as ops from "../../src/ops/index.js";
import { ones, randn, tensor, zeros } from "../../src/index.js";
import { manualSeed } from "../../src/tensor/random.js";
import { memory } from "../../src/tensor/memory.js";
import type { Tensor } from "../../src/tensor/tensor.js";

function stats(t: Tensor): { mean: number; std: number; min: number; max: number } {
  const v = t.toArray();
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, min: v.reduce((a, b) => Math.min(a, b)), max: v.reduce((a, b) => Math.max(a, b)) };
}

test("Linear and Conv2d default initialisation is PyTorch's: uniform in ±1/√fanIn", () => {
  manualSeed(1);
  const fc = new Linear(400, 300);
  const bound = 1 / Math.sqrt(400);
  const w = stats(fc.weight);
  assert.ok(w.max <= bound && w.min >= -bound, "within the bound");
  assert.ok(w.max > 0.99 * bound && w.min < -0.99 * bound, "reaches the bound");
  assert.ok(Math.abs(w.std - bound / Math.sqrt(3)) < 0.01 * bound, `std ${w.std} vs ${bound / Math.sqrt(3)}`);
  assert.ok(Math.abs(w.mean) < 0.005 * bound * 10, "centred");
  const b = stats(fc.bias!);
  assert.ok(b.max <= bound && b.min >= -bound);
  const conv = new Conv2d(8, 16, 3, { groups: 2 });
  assert.deepEqual([...conv.weight.shape], [16, 4, 3, 3]);
  const cb = 1 / Math.sqrt(4 * 9);
  const c = stats(conv.weight);
  assert.ok(c.max <= cb && c.min >= -cb && c.max > 0.9 * cb);
});

test("named init schemes have their defining spread", () => {
  manualSeed(2);
  const w = zeros([500, 800]);
  init.kaimingNormal(w, { nonlinearity: "relu" });
  assert.ok(Math.abs(stats(w).std - Math.sqrt(2 / 800)) < 0.01 * Math.sqrt(2 / 800));
  init.xavierUniform(w);
  const bound = Math.sqrt(6 / 1300);
  const s = stats(w);
  assert.ok(s.max <= bound && s.max > 0.99 * bound && Math.abs(s.std - bound / Math.sqrt(3)) < 0.01 * bound);
  init.xavierNormal(w, 2);
  assert.ok(Math.abs(stats(w).std - 2 * Math.sqrt(2 / 1300)) < 0.02 * Math.sqrt(2 / 1300));
  const fc = new Linear(10, 10, { init: "zeros" });
  assert.deepEqual(new Set(fc.weight.toArray()), new Set([0]));
  assert.throws(() => init.xavierUniform(zeros([5])), /fan-in and fan-out need a weight of rank ≥ 2, got \[5\]/);
  const emb = new Embedding(1000, 64);
  assert.ok(Math.abs(stats(emb.weight).std - 1) < 0.01);
});

class Block extends Module {
  readonly fc = this.addModule("fc", new Linear(4, 4));
  readonly norm = this.addModule("norm", new LayerNorm(4));
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.fc.forward(x));
  }
}

class Tied extends Module {
  readonly embed = this.addModule("embed", new Embedding(10, 4));
  readonly blocks = this.addModule("blocks", new Sequential(new Block(), new Block()));
  forward(x: Tensor): Tensor {
    return this.blocks.forward(this.embed.forward(x));
  }
}

test("modules name their parameters and buffers by dotted path, like PyTorch's state dicts", () => {
  const m = new Tied();
  assert.deepEqual(
    m.namedParameters().map(([n]) => n),
    [
      "embed.weight",
      "blocks.0.fc.weight",
      "blocks.0.fc.bias",
      "blocks.0.norm.weight",
      "blocks.0.norm.bias",
      "blocks.1.fc.weight",
      "blocks.1.fc.bias",
      "blocks.1.norm.weight",
      "blocks.1.norm.bias",
    ],
  );
  assert.equal(m.parameterCount(), 40 + 2 * (16 + 4 + 4 + 4));
  const bn = new BatchNorm2d(3);
  assert.deepEqual(Object.keys(bn.stateDict()), ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]);
  assert.deepEqual(Object.keys(mlp({ inputs: 784, hidden: [8], classes: 10 }).stateDict()), ["1.weight", "1.bias", "3.weight", "3.bias"]);
  m.eval();
  assert.ok(m.namedModules().every(([, x]) => !x.training));
  m.train();
  assert.ok(m.namedModules().every(([, x]) => x.training));
});

test("loadStateDict is strict and lists what is missing or unexpected", () => {
  const a = new Tied(),
    b = new Tied();
  b.loadStateDict(a.stateDict());
  assert.deepEqual(b.stateDict()["blocks.1.fc.weight"]!.toArray(), a.stateDict()["blocks.1.fc.weight"]!.toArray());
  const partial = { ...a.stateDict(), extra: zeros([1]) };
  delete (partial as Record<string, Tensor>)["embed.weight"];
  assert.throws(() => b.loadStateDict(partial), /Tied\.loadStateDict: missing keys: embed\.weight; unexpected keys: extra/);
  const result = b.loadStateDict(partial, false);
  assert.deepEqual(result, { missing: ["embed.weight"], unexpected: ["extra"] });
  assert.throws(
    () => b.loadStateDict({ ...a.stateDict(), "embed.weight": zeros([10, 5]) }),
    /'embed\.weight' is float32 \[10, 5\] in the state dict, float32 \[10, 4\] in the module/,
  );
});

test("a registered name may not repeat or contain a dot", () => {
  class Bad extends Module {
    constructor(name: string) {
      super();
      this.addParameter("w", zeros([1]));
      this.addParameter(name, zeros([1]));
    }
    forward(x: Tensor): Tensor {
      return x;
    }
  }
  assert.throws(() => new Bad("w"), /member "w" is registered twice/);
  assert.throws(() => new Bad("a.b"), /invalid member name "a\.b"/);
});

test("Sequential releases intermediate outputs as it goes", () => {
  const model = cnn({ input: [1, 28, 28], channels: [8, 16], hidden: 32, classes: 10 });
  const x = randn([4, 1, 28, 28]);
  const before = memory.report().current.activation;
  const y = noGrad(() => model.forward(x));
  assert.equal(memory.report().current.activation - before, y.size * 4, "only the output remains");
  y.dispose();
});

test("BatchNorm2d tracks running statistics in training and uses them in evaluation", () => {
  const bn = new BatchNorm2d(2);
  const x = tensor([
    [[[1, 3]], [[2, 6]]],
    [[[5, 7]], [[4, 0]]],
  ]); // [2, 2, 1, 2]
  noGrad(() => bn.forward(x));
  assert.equal(bn.batchesTracked.item(), 1);
  // channel 0: values 1, 3, 5, 7: mean 4, unbiased variance 20/3
  assert.ok(Math.abs(bn.runningMean.toArray()[0]! - 0.4) < 1e-6);
  assert.ok(Math.abs(bn.runningVar.toArray()[0]! - (0.9 + 0.1 * (20 / 3))) < 1e-5);
  bn.eval();
  const y = noGrad(() => bn.forward(ones([1, 2, 1, 1])));
  const expected0 = (1 - 0.4) / Math.sqrt(0.9 + 0.1 * (20 / 3) + 1e-5);
  assert.ok(Math.abs(y.toArray()[0]! - expected0) < 1e-5);
  assert.throws(() => bn.forward(ones([1, 3, 1, 1])), /batchNorm2d: input \[1, 3, 1, 1\] must be \[N, 2, H, W\]/);
});

test("Dropout is the identity in evaluation mode and drops in training", () => {
  manualSeed(3);
  const d = new Dropout(0.5);
  const x = ones([1000]);
  const dropped = d
    .forward(x)
    .toArray()
    .filter((v) => v === 0).length;
  assert.ok(dropped > 400 && dropped < 600, `${dropped} of 1000 dropped`);
  d.eval();
  assert.deepEqual(new Set(d.forward(x).toArray()), new Set([1]));
  assert.throws(() => new Dropout(1.5), /Dropout: p must be in \[0, 1\], got 1\.5/);
});

test("the mlp and cnn workloads have the layers DESIGN.md gives", () => {
  const net = cnn({ input: [1, 28, 28], channels: [32, 64], hidden: 128, classes: 10 });
  const shapes = net.namedParameters().map(([n, p]) => `${n}:${p.shape.join("x")}`);
  assert.deepEqual(shapes, [
    "0.weight:32x1x3x3",
    "0.bias:32",
    "3.weight:64x32x3x3",
    "3.bias:64",
    "7.weight:128x1600",
    "7.bias:128",
    "9.weight:10x128",
    "9.bias:10",
  ]);
  const out = noGrad(() => net.forward(zeros([2, 1, 28, 28])));
  assert.deepEqual([...out.shape], [2, 10]);
  const m = mlp({ inputs: 784, hidden: [1024, 1024], classes: 10 });
  assert.equal(m.parameterCount(), 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10);
  assert.ok(new Sequential(new Flatten(), new ReLU()).forward(ones([2, 3, 4])).shape[1] === 12);
  void ops;
});
