import assert from "node:assert/strict";
import { test } from "node:test";

import { calibratedMachine, type Calibration } from "../../src/plan/calibration.js";
import type { KernelRates } from "../../src/plan/measure.js";

const rates: KernelRates = {
  matmul: { float32: [{ size: 256, flops: 1e11 }], bfloat16: [{ size: 256, flops: 2e11 }] },
  matmulBackward: 2.5,
  attention: {
    float32: [
      { size: 64, flops: 2e10 },
      { size: 256, flops: 5e10 },
    ],
    bfloat16: [{ size: 256, flops: 5e10 }],
  },
  attentionBackward: 2.25,
  elementwise: { forward: 4e9, training: 1e9 },
  normalization: { forward: 2e9, training: 5e8 },
  optimizer: 3e9,
  optimizerCall: 1e-6,
  clip: 2e9,
  clipCall: 1e-6,
  kernelCall: 2e-6,
  autogradCall: 8e-6,
};
const calibration: Calibration = {
  version: 5,
  cpu: "test",
  cores: 2,
  measured: "2026-12-03T00:00:00Z",
  // The same rates at 1 and 2 threads, so only the ranks' contention differs between 1 and 2 ranks.
  byThreads: { "1": rates, "2": rates },
  threadsLink: { latency: 1e-6, bandwidth: 1e10 },
  step: { efficiency: { float32: 0.8, bfloat16: 0.6 }, contention: 1.25, collectiveWait: 2e-4, gatherWait: 1e-4 },
  zero3Unit: 1e-4,
  diskBandwidth: 1e9,
};

test("a rank's kernels run at their calibrated rates times the reference step's efficiency at their precision, slowed by its contention beside other ranks; attention at its context's rate", () => {
  // Catches the efficiency or the contention left out, the contention applied to one rank, a
  // call's cost not scaled like the rates, or attention's rate not interpolated by context.
  const [one, two] = [calibratedMachine(calibration, 1), calibratedMachine(calibration, 2)];
  const near = (actual: number, expected: number, what: string): void =>
    assert.ok(Math.abs(actual - expected) <= 1e-12 * Math.abs(expected), `${what}: ${actual} vs ${expected}`);
  near(one.matmulFlops("float32", 256), 1e11 * 0.8, "one rank's matmul");
  near(two.matmulFlops("float32", 256), (1e11 * 0.8) / 1.25, "two ranks' matmul");
  // bfloat16's kernels at its own step efficiency.
  near(two.attentionFlops("bfloat16", 256), (5e10 * 0.6) / 1.25, "two ranks' bf16 attention");
  near(one.matmulFlops("bfloat16", 256), 2e11 * 0.6, "one rank's bf16 matmul");
  assert.equal(two.collectiveWait, 2e-4);
  assert.equal(two.gatherWait, 1e-4);
  // The rate for the context, between measured ones on a log scale.
  near(one.attentionFlops("float32", 64), 2e10 * 0.8, "attention at 64");
  near(one.attentionFlops("float32", 128), 3.5e10 * 0.8, "attention halfway between 64 and 256");
  assert.equal(one.attentionBackward, 2.25);
  near(two.elementwise.training, (1e9 * 0.8) / 1.25, "element-wise");
  near(two.normalization.forward, (2e9 * 0.8) / 1.25, "normalization");
  near(two.optimizerRate, (3e9 * 0.8) / 1.25, "optimizer");
  near(one.autogradCall, 8e-6 / 0.8, "a call's cost");
  assert.equal(two.matmulBackward, 2.5);
  // 4 ranks on 2 cores: each gets half a core besides the efficiency and the contention.
  near(calibratedMachine(calibration, 4).matmulFlops("float32", 256), (1e11 * 0.5 * 0.8) / 1.25, "4 ranks' matmul");
  near(calibratedMachine(calibration, 4).autogradCall, 8e-6 / ((0.5 * 0.8) / 1.25), "4 ranks' call");
});
