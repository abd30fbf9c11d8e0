import assert from "node:assert/strict";
import { test } from "node:test";

import { compile } from "../../src/compile/index.js";
import { Linear } from "../../src/nn/linear.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { gelu } from "../../src/ops/unary.js";
import { AdamW } from "../../src/optim/adamw.js";
import { Lion } from "../../src/optim/lion.js";
import type { Optimizer } from "../../src/optim/optimizer.js";
import { clipGradNorm } from "../../src/optim/clip.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { backendName } from "../../src/backends/index.js";
import { replayed } from "./replayed.js";

/** A small classifier: Linear, GELU, Linear. */
function classifier(): { forward: (x: Tensor) => Tensor; params: Tensor[] } {
  manualSeed(11);
  const a = new Linear(6, 16),
    b = new Linear(16, 3);
  return { forward: (x) => b.forward(gelu(a.forward(x))), params: [...a.parameters(), ...b.parameters()] };
}

function batchOf(seed: number): [Tensor, Tensor] {
  manualSeed(100 + seed);
  return [
    randn([7, 6]),
    tensor(
      Array.from({ length: 7 }, (_, i) => (i + seed) % 3),
      { dtype: "int32" },
    ),
  ];
}

const values = (params: readonly Tensor[]): number[][] => params.map((p) => p.toArray());

test("replay runs its stretches of kernel calls natively, bitwise equal to calling each kernel from TypeScript", { skip: backendName !== "native" }, () => {
  const runs = [true, false].map((nativeReplay) => replayed(classifier(), batchOf, { nativeReplay }));
  const [native, fromTs] = runs as [(typeof runs)[0], (typeof runs)[0]];
  assert.deepEqual(native.losses, fromTs.losses);
  assert.deepEqual(native.grads, fromTs.grads);
  const last = native.stats;
  // Every kernel call of this step is the addon's own: all of them run natively, in few runs.
  assert.equal(last.nativeKernels, last.kernels, JSON.stringify(last));
  assert.ok(last.nativeRuns >= 1 && last.nativeRuns <= 1 + last.hostCalls, JSON.stringify(last));
  assert.equal(fromTs.stats.nativeKernels, 0);
});

/** Trains `steps` steps, the optimizer (and clipping) inside the compiled step when `compiled`. */
function trainWith(
  makeOptimizer: (params: Tensor[]) => Optimizer<any>,
  compiled: boolean,
  steps: number,
): { params: number[][]; losses: number[]; replays: number } {
  const model = classifier();
  const optimizer = makeOptimizer(model.params);
  const norms: number[] = [];
  const optimizerPart = (): void => {
    norms.push(clipGradNorm(model.params, 0.5));
    optimizer.step();
    optimizer.zeroGrad();
  };
  const step = compile(
    (inputs, _scalars, capture) => {
      const loss = tidy(() => {
        const l = crossEntropy(model.forward(inputs[0]!), inputs[1]!);
        l.backward();
        return l;
      });
      capture.host("optimizer", model.params, optimizerPart);
      return [loss];
    },
    { parameters: model.params, log: () => {} },
  );
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const batch = batchOf(i);
    losses.push(compiled ? step.run(batch)[0]! : eagerStep(model, batch, optimizerPart));
    assert.ok(
      model.params.every((p) => p.grad === null),
      "the optimizer's part dropped the gradients inside the step",
    );
  }
  assert.equal(norms.length, steps, "clipping ran once per step, replays included");
  return { params: values(model.params), losses, replays: step.stats.replays };
}

function eagerStep(model: ReturnType<typeof classifier>, [x, y]: [Tensor, Tensor], optimizerPart: () => void): number {
  const loss = tidy(() => {
    const l = crossEntropy(model.forward(x), y);
    l.backward();
    return l;
  });
  const value = loss.item();
  loss.dispose();
  optimizerPart();
  return value;
}

for (const [name, make] of [
  ["AdamW", (params: Tensor[]) => new AdamW(params, { lr: 1e-2, weightDecay: 0.1 })],
  ["Lion", (params: Tensor[]) => new Lion(params, { lr: 1e-3, weightDecay: 0.1 })],
] as const) {
  test(`a compiled step with ${name} and clipping inside it trains as the eager step, bitwise, over 20 steps`, () => {
    const eager = trainWith(make, false, 20),
      compiled = trainWith(make, true, 20);
    assert.equal(compiled.replays, 18, "steps 3 to 20 replay, the optimizer with them");
    assert.deepEqual(compiled.losses, eager.losses);
    assert.deepEqual(compiled.params, eager.params);
  });
}
