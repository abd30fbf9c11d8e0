import assert from "node:assert/strict";
import { test } from "node:test";

import { checkpoint } from "../../src/autograd/checkpoint.js";
import { noGrad } from "../../src/autograd/grad_mode.js";
import { GPT, type GPTConfig } from "../../src/models/gpt.js";
import * as ops from "../../src/ops/index.js";
import { tensor } from "../../src/tensor/create.js";
import { memory } from "../../src/tensor/memory.js";
import { defaultGenerator, manualSeed, randint, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";

const SMALL: GPTConfig = { vocabSize: 23, context: 16, layers: 3, heads: 2, width: 16, dropout: 0.2 };

function gpt(config: GPTConfig): GPT {
  manualSeed(11);
  return new GPT(config);
}

/** One forward and backward from a fixed random state: the loss, every gradient, and where the stream ended. */
function gradients(model: GPT, idx: Tensor, targets: Tensor) {
  model.zeroGrad();
  manualSeed(5);
  memory.resetPeak();
  const before = memory.report().current.activation;
  const loss = tidy(() => {
    const l = ops.crossEntropy(model.forward(idx), targets);
    l.backward();
    return l.item();
  });
  const grads = Object.fromEntries(model.namedParameters().map(([name, p]) => [name, Float32Array.from(p.grad!.data as Float32Array)]));
  return {
    loss,
    grads,
    rng: defaultGenerator().getState(),
    peakActivation: memory.report().peak.activation - before,
    leaked: memory.report().current.activation - before,
  };
}

test("a checkpointed GPT (dropout on) gives bitwise the gradients of the plain one and frees everything", () => {
  const idx = randint(0, SMALL.vocabSize, [2, 12]);
  const targets = randint(0, SMALL.vocabSize, [2, 12]);
  const plain = gradients(gpt(SMALL), idx, targets);
  const checkpointed = gradients(gpt({ ...SMALL, checkpoint: true }), idx, targets);
  assert.equal(checkpointed.loss, plain.loss);
  assert.deepEqual(Object.keys(checkpointed.grads), Object.keys(plain.grads));
  for (const [name, g] of Object.entries(plain.grads)) assert.deepEqual(checkpointed.grads[name], g, `gradient of ${name}`);
  assert.deepEqual(checkpointed.rng, plain.rng, "backward's recomputation leaves the random stream where the forward left it");
  assert.equal(checkpointed.leaked, 0);
  assert.equal(plain.leaked, 0);
  // Dropout really draws: another stream gives other gradients.
  const model = gpt(SMALL);
  model.zeroGrad();
  manualSeed(6);
  tidy(() => ops.crossEntropy(model.forward(idx), targets).backward());
  assert.notDeepEqual(Float32Array.from(model.blocks.items[0]!.parameters()[0]!.grad!.data as Float32Array), plain.grads["blocks.0.ln1.weight"]);
});

test("checkpointing every block of a GPT cuts its peak activation memory by more than 60%", () => {
  const config: GPTConfig = { vocabSize: 65, context: 32, layers: 4, heads: 4, width: 64 };
  const idx = randint(0, 65, [4, 32]);
  const targets = randint(0, 65, [4, 32]);
  const plain = gradients(gpt(config), idx, targets);
  const checkpointed = gradients(gpt({ ...config, checkpoint: true }), idx, targets);
  const saved = 1 - checkpointed.peakActivation / plain.peakActivation;
  assert.ok(saved >= 0.6, `peak activations ${checkpointed.peakActivation} vs ${plain.peakActivation} bytes: ${(100 * saved).toFixed(1)}% saved`);
});

test("inputs and captured parameters get their gradients; several outputs and inputs work", () => {
  const w = tensor(
    [
      [0.5, -1],
      [2, 0.25],
    ],
    { requiresGrad: true },
  );
  const x = tensor(
    [
      [1, 2],
      [3, -4],
    ],
    { requiresGrad: true },
  );
  const y = tensor([
    [0.1, 0.2],
    [0.3, 0.4],
  ]); // no grad: its edge is skipped
  const fn = (a: Tensor, b: Tensor) => {
    const h = ops.tanh(ops.matmul(a, w));
    return [ops.mul(h, b), ops.exp(h)];
  };
  const run = (wrap: boolean) => {
    w.grad = null;
    x.grad = null;
    tidy(() => {
      const [p, q] = wrap ? checkpoint(fn, x, y) : fn(x, y);
      ops.add(ops.sum(ops.square(p!)), ops.sum(q!)).backward();
    });
    return [Array.from(w.grad!.data), Array.from(x.grad!.data)];
  };
  const direct = run(false);
  assert.deepEqual(run(true), direct);
  assert.equal(y.grad, null);
});

test("with no input requiring grad the captured parameters still get gradients", () => {
  const w = tensor([1, -2, 3], { requiresGrad: true });
  const x = tensor([4, 5, 6]);
  tidy(() => ops.sum(checkpoint((h) => ops.mul(ops.relu(h), w), x)).backward());
  assert.deepEqual(w.grad!.toArray(), [4, 5, 6]);
});

test("under noGrad checkpoint is a plain call that records nothing", () => {
  const x = tensor([1, 2], { requiresGrad: true });
  const y = noGrad(() => checkpoint((h) => ops.mul(h, 2), x));
  assert.equal(y.node, null);
  assert.equal(y.requiresGrad, false);
  assert.deepEqual(y.toArray(), [2, 4]);
});

test("misuse fails with errors that say what was wrong", () => {
  const x = tensor([1, 2], { requiresGrad: true });
  assert.throws(() => checkpoint(42 as never, x), /checkpoint: fn must be a function, got number/);
  assert.throws(() => checkpoint((h) => h, 3 as never), /checkpoint: input 0 is number, not a tensor/);
  assert.throws(() => checkpoint((() => 1) as never, x), /checkpoint: fn must return a tensor or a non-empty array of tensors, got number/);
  assert.throws(() => checkpoint(() => [], x), /non-empty array of tensors, got an array of 0/);
  assert.throws(() => checkpoint((h) => [h, 5] as never, x), /checkpoint: output 0 is input 0 itself/);
  assert.throws(() => checkpoint((h) => [ops.mul(h, 2), 5] as never, x), /checkpoint: output 1 of fn is number, not a tensor/);
  assert.throws(() => checkpoint((h) => ops.cast(h, "int32"), x), /checkpoint: output 0 is int32 \[2\]; only floating outputs/);
  const outside = ops.mul(x, 3);
  assert.throws(() => checkpoint(() => outside, x), /checkpoint: output 0 \[2\] was computed outside fn/);
});

test("a function that behaves differently on the recomputation is caught in backward", () => {
  const x = tensor([1, 2, 3, 4], { requiresGrad: true });
  let calls = 0;
  const shapes = checkpoint((h) => (calls++ === 0 ? ops.mul(h, 2) : ops.reshape(ops.mul(h, 2), [2, 2])), x);
  assert.throws(() => ops.sum(shapes).backward(), /checkpoint: the recomputation returned \[2, 2\] float32 where the forward returned \[4\] float32/);
  let draws = 0;
  const random = checkpoint((h) => (draws++ === 0 ? ops.mul(h, 2) : ops.mul(h, randn([4]))), x);
  assert.throws(() => ops.sum(random).backward(), /checkpoint: the recomputation drew 1 random blocks where the forward drew 0/);
});

test("a retained graph recomputes again, and checkpoints nest", () => {
  const w = tensor([0.5, -1.5, 2], { requiresGrad: true });
  const x = tensor([1, 2, 3], { requiresGrad: true });
  const inner = (h: Tensor) => ops.tanh(ops.mul(h, w));
  const outer = (h: Tensor) => ops.exp(checkpoint(inner, ops.mul(h, 0.5)));
  const run = (fn: (h: Tensor) => Tensor) => {
    w.grad = null;
    x.grad = null;
    tidy(() => ops.sum(fn(x)).backward());
    return [Array.from(w.grad!.data), Array.from(x.grad!.data)];
  };
  const direct = run((h) => ops.exp(inner(ops.mul(h, 0.5))));
  assert.deepEqual(
    run((h) => checkpoint(outer, h)),
    direct,
  );
  w.grad = null;
  tidy(() => {
    const loss = ops.sum(checkpoint(inner, x));
    loss.backward(undefined, { retainGraph: true });
    const once = Array.from(w.grad!.data);
    loss.backward();
    assert.deepEqual(
      Array.from(w.grad!.data),
      once.map((g) => g * 2),
    );
  });
});

test("a checkpointed GPT under bfloat16 autocast recomputes in bfloat16: bitwise the gradients of the plain one", async () => {
  const { autocast } = await import("../../src/amp/autocast.js");
  const config: GPTConfig = { ...SMALL, dropout: 0 };
  const idx = randint(0, config.vocabSize, [2, 12]);
  const targets = randint(0, config.vocabSize, [2, 12]);
  const run = (model: GPT) => {
    model.zeroGrad();
    tidy(() => autocast({ dtype: "bfloat16" }, () => ops.crossEntropy(model.forward(idx), targets)).backward());
    return model.namedParameters().map(([name, p]) => [name, Array.from(p.grad!.data as Float32Array)] as const);
  };
  const plain = run(gpt(config));
  const checkpointed = run(gpt({ ...config, checkpoint: true }));
  assert.deepEqual(checkpointed, plain);
});
