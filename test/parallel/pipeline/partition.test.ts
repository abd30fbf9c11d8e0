import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { test } from "node:test";

import { kernels } from "../../../src/backends/index.js";
import { Linear } from "../../../src/nn/linear.js";
import { balancedCut, measureLayerCosts } from "../../../src/parallel/pipeline/partition.js";
import type { Tensor } from "../../../src/tensor/tensor.js";
import { randn } from "../../../src/tensor/random.js";

/** A Linear whose second forward call (the first timed one) stalls 30 ms, as if another thread had taken its core then. */
class StallingLinear extends Linear {
  private calls = 0;
  override forward(x: Tensor): Tensor {
    if (++this.calls === 2) {
      const end = performance.now() + 30;
      while (performance.now() < end);
    }
    return super.forward(x);
  }
}

test("balancedCut gives consecutive parts whose largest total is smallest", () => {
  assert.deepEqual(balancedCut([1, 1, 1, 3], 2), [3, 1]);
  assert.deepEqual(balancedCut([1, 1, 1, 1], 2), [2, 2]);
  assert.deepEqual(balancedCut([2, 2, 2, 2, 2, 2], 3), [2, 2, 2]);
  assert.deepEqual(balancedCut([3, 1, 1, 1], 2), [1, 3]);
  assert.throws(() => balancedCut([1], 2), /1 pipeline layers \(a gpt.s are its embedding, each block and its head\) cannot be cut into 2 parts/);
});

test("measureLayerCosts keeps a layer's fastest run: one preempted run does not unbalance the cut of equal layers", () => {
  // One OpenMP thread: on a machine whose cores are busy, a kernel that wakes a sleeping OpenMP
  // worker waits a scheduler slice (~8 ms here) for it, every call, which is not what this tests.
  const threads = kernels.getNumThreads();
  kernels.setNumThreads(1);
  const layers = [new StallingLinear(256, 256), new Linear(256, 256), new Linear(256, 256), new Linear(256, 256)];
  const x = randn([256, 256]);
  const costs = measureLayerCosts(layers, x);
  x.dispose();
  // Timing the stalled call alone (as a single timed run did) costs it 30 ms and cuts [1, 3].
  assert.ok(costs[0]! < 5, `the stalling layer's cost: ${costs[0]} ms`);
  assert.deepEqual(balancedCut(costs, 2), [2, 2], `costs ${costs.map((c) => c.toFixed(3)).join(", ")}`);
  for (const layer of layers) for (const p of layer.parameters()) p.dispose();
  kernels.setNumThreads(threads);
});
