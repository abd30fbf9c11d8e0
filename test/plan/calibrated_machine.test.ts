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
  version: 2,
  cpu: "test",
  cores: 2,
  measured: "2026-12-03T00:00:00Z",
  // The same rates at 1 and 2 threads, so only the ranks' contention differs between 1 and 2 ranks.
  byThreads: { "1": rates, "2": rates },
  threadsLink: { latency: 1e-6, bandwidth: 1e10 },
  contention: { compute: 1.25, memory: 2 },
  zero3Unit: 1e-4,
  diskBandwidth: 1e9,
};

test("ranks beside each other run compute-bound kernels slower by the measured contention, memory-bound ones by theirs; attention at its context's rate", () => {
  // Catches the contention left out, or one factor applied to both kinds of kernel, or attention's rate not interpolated by context.
  const [one, two] = [calibratedMachine(calibration, 1), calibratedMachine(calibration, 2)];
  assert.equal(one.matmulFlops("float32", 256), 1e11);
  assert.equal(two.matmulFlops("float32", 256), 1e11 / 1.25);
  assert.equal(two.attentionFlops("bfloat16", 256), 5e10 / 1.25);
  // The rate for the context, between measured ones on a log scale.
  assert.equal(one.attentionFlops("float32", 64), 2e10);
  assert.ok(Math.abs(one.attentionFlops("float32", 128) - 3.5e10) < 1, "halfway between 64 and 256");
  assert.equal(one.attentionBackward, 2.25);
  assert.equal(two.elementwise.training, 1e9 / 2);
  assert.equal(two.normalization.forward, 2e9 / 2);
  assert.equal(two.optimizerRate, 3e9 / 2);
  assert.equal(two.matmulBackward, 2.5);
  // 4 ranks on 2 cores: each gets half a core besides the contention.
  assert.equal(calibratedMachine(calibration, 4).matmulFlops("float32", 256), 1e11 / 2 / 1.25);
  assert.equal(calibratedMachine(calibration, 4).autogradCall, 8e-6 * 2);
});
