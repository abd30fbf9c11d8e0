import assert from "node:assert/strict";
import { test } from "node:test";

import { VERDICT_THRESHOLDS, verdict, type VerdictInput } from "../../src/profile/verdict.js";

const settings = { numWorkers: 0, precision: "float32", compression: "none", zero: 0, checkpointing: false };
const peak = { parameter: 10, gradient: 10, optimizer: 20, activation: 60, other: 0, total: 100 };

function input(shares: Partial<VerdictInput["shares"]>, extra: Partial<VerdictInput> = {}): VerdictInput {
  return {
    shares: { compute: 0.7, data: 0, communication: 0, overhead: 0.3, ...shares },
    peakBytes: peak,
    memoryBudget: 1000,
    overlapped: null,
    settings,
    ...extra,
  };
}

test("verdict: a stall becomes the bottleneck at the documented 20% of the step, the larger of two stalls wins", () => {
  const { stallShare } = VERDICT_THRESHOLDS;
  assert.equal(verdict(input({ data: stallShare - 0.01, compute: 0.6 })).bottleneck, "compute");
  assert.equal(verdict(input({ data: stallShare, compute: 0.6 })).bottleneck, "data");
  assert.equal(verdict(input({ communication: 0.3, compute: 0.5 })).bottleneck, "communication");
  assert.equal(verdict(input({ data: 0.25, communication: 0.4, compute: 0.3 })).bottleneck, "communication");
  assert.equal(verdict(input({ data: 0.4, communication: 0.25, compute: 0.3 })).bottleneck, "data");
});

test("verdict: each class names its seeds' lever, fitted to the run's settings", () => {
  assert.match(verdict(input({ data: 0.5 })).lever, /data\.numWorkers, now 0/);
  const comm = verdict(input({ communication: 0.5 }, { overlapped: 0.1 }));
  assert.match(comm.lever, /overlap/);
  assert.match(comm.lever, /compression/);
  assert.match(comm.lever, /hierarchical/);
  assert.match(comm.evidence, /50\.0%/);
  assert.match(verdict(input({})).lever, /bf16/, "float32 compute: bf16 first");
  const bf16 = verdict(input({}, { settings: { ...settings, precision: "bfloat16" } }));
  assert.doesNotMatch(bf16.lever, /bf16 autocast/, "already bf16: not prescribed again");
  assert.match(bf16.lever, /fused/);
});

test("verdict: memory at 90% of the budget wins over any time share; its lever follows the largest category", () => {
  const near = input({ data: 0.6, compute: 0.3 }, { memoryBudget: 100 / VERDICT_THRESHOLDS.memoryOfBudget });
  const v = verdict(near);
  assert.equal(v.bottleneck, "memory");
  assert.match(v.lever, /activation checkpointing/, "activations are 60% of the peak");
  assert.match(v.evidence, /activation memory is the largest part/);
  assert.equal(verdict({ ...near, memoryBudget: 100 / 0.89 }).bottleneck, "data", "below 90% the stall is the verdict");
  const optimizerHeavy = verdict({ ...near, peakBytes: { ...peak, optimizer: 70, activation: 10 } });
  assert.match(optimizerHeavy.lever, /ZeRO-1/);
  const parameterHeavy = verdict({ ...near, peakBytes: { ...peak, parameter: 80, activation: 10 } });
  assert.match(parameterHeavy.lever, /ZeRO-3/);
});
