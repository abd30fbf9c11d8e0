import assert from "node:assert/strict";
import { test } from "node:test";

import { deferInit } from "../../src/nn/deferred.js";
import { Linear } from "../../src/nn/linear.js";
import { SGD } from "../../src/optim/sgd.js";
import { startThreads } from "../../src/parallel/threads/spawn.js";
import { disposeState, readerOfStates } from "../../src/parallel/state.js";
import { SingleProcess } from "../../src/parallel/strategy.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import { sum } from "../../src/ops/reduce.js";
import { assertClose, F32 } from "../helpers/compare.js";
import type { StrategyChecks } from "./strategy_rank.js";

test("sharded gradients: shardedNorm joins the ranks' parts into the whole model's norm, and clipping scales each shard by it; DDP's checkpoint is rank 0's, and DDP refuses a parameter used inside and outside an activation checkpoint", {
  timeout: 60_000,
}, async () => {
  for (const size of [2, 3]) {
    const job = startThreads({ size, module: new URL("./strategy_rank.js", import.meta.url), onLine: () => {} });
    for (const outcome of await job.done) {
      assert.ok(outcome.ok, outcome.ok ? "" : outcome.error.stack);
      const r = outcome.result as StrategyChecks,
        where = `${size} ranks, rank ${outcome.rank}`;
      assertClose([r.norm2[0]], [r.norm2[1]], F32, `${where}: 2-norm`);
      assert.equal(r.normInf[0], r.normInf[1], `${where}: inf-norm`);
      assert.ok(r.norm2[1] > 1, "the clip is active");
      for (const [i, g] of r.clipped[0].entries()) assertClose(g, r.clipped[1][i]!, F32, `${where}: clipped gradient ${i}`);
      assert.equal(r.writesCheckpoint, outcome.rank === 0, `${where}: only rank 0 writes`);
      if (outcome.rank === 0) assert.deepEqual(r.checkpointKeys, ["weight", "bias"]);
      assert.match(r.sharedAcrossCheckpoint, /got more gradient after its bucket was synced: it is used both inside and outside an activation checkpoint/);
    }
  }
});

test("SingleProcess: plain backward, local norm and clipping, the optimizer's step, the full checkpoint and its reload", () => {
  manualSeed(1);
  const model = new Linear(4, 3),
    strategy = new SingleProcess(model);
  const optimizer = new SGD(model.parameters(), { lr: 0.5, momentum: 0.9 });
  strategy.backward(sum(model.forward(randn([2, 4]))));
  const norm = strategy.gradNorm();
  assert.ok(norm > 1);
  assert.equal(strategy.clipGradNorm(1), norm);
  assertClose([strategy.gradNorm()], [1], F32, "clipped to 1");
  const before = model.weight.toArray();
  strategy.step(optimizer);
  assert.notDeepEqual(model.weight.toArray(), before, "the step moved the weights");
  const state = strategy.stateDict(optimizer);
  assert.deepEqual(Object.keys(state.model), ["weight", "bias"]);
  assert.deepEqual(Object.keys(state.optimizer), ["weight.momentumBuffer", "bias.momentumBuffer"], "optimizer state named after the parameters");
  assert.deepEqual(state.steps, { weight: 1, bias: 1 });
  assert.deepEqual(state.paramGroups[0]!.params, ["weight", "bias"]);
  const other = new Linear(4, 3),
    otherStrategy = new SingleProcess(other),
    otherOptimizer = new SGD(other.parameters(), { lr: 0.1, momentum: 0.9 });
  otherStrategy.loadStateDict(readerOfStates([state]), otherOptimizer);
  disposeState(state);
  assert.deepEqual(other.weight.toArray(), model.weight.toArray());
  assert.equal(otherOptimizer.paramGroups[0]!.lr, 0.5, "hyperparameters restored");
  assert.deepEqual(
    otherOptimizer.paramState(other.weight)!.tensors.momentumBuffer!.toArray(),
    optimizer.paramState(model.weight)!.tensors.momentumBuffer!.toArray(),
  );
});

test("a replicated strategy materialises a module built under deferInit, with eager init's values", () => {
  manualSeed(4);
  const eager = new Linear(6, 5);
  manualSeed(4);
  const lazy = deferInit(() => new Linear(6, 5));
  assert.ok(lazy.weight.isMeta);
  new SingleProcess(lazy).dispose();
  assert.ok(!lazy.weight.isMeta && !lazy.bias!.isMeta);
  assert.deepEqual(lazy.weight.toArray(), eager.weight.toArray());
  assert.deepEqual(lazy.bias!.toArray(), eager.bias!.toArray());
});
