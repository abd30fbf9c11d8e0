/** A classifier step compiled with given options and run on five batches: what the compile tests compare. */
import assert from "node:assert/strict";

import { type CompileOptions, compile, type ProgramStats } from "../../src/compile/index.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";

export interface Model {
  forward: (x: Tensor) => Tensor;
  params: Tensor[];
}

/**
 * Five steps of cross-entropy on `model` (batches from `batchOf`), compiled with `options`:
 * each step's loss and gradients (dropped after), and the program's stats (three replays).
 */
export function replayed(
  model: Model,
  batchOf: (seed: number) => [Tensor, Tensor],
  options: Partial<CompileOptions>,
): { losses: number[]; grads: number[][][]; stats: ProgramStats } {
  const step = compile(
    (inputs) => [
      tidy(() => {
        const loss = crossEntropy(model.forward(inputs[0]!), inputs[1]!);
        loss.backward();
        return loss;
      }),
    ],
    { parameters: model.params, log: () => {}, ...options },
  );
  const losses: number[] = [],
    grads: number[][][] = [];
  for (let i = 0; i < 5; i++) {
    losses.push(step.run(batchOf(i))[0]!);
    grads.push(model.params.map((p) => p.grad!.toArray()));
    for (const p of model.params) {
      p.grad!.dispose();
      p.grad = null;
    }
  }
  assert.equal(step.stats.replays, 3);
  return { losses, grads, stats: step.stats.last! };
}
