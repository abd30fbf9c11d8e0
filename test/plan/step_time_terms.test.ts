import assert from "node:assert/strict";
import { test } from "node:test";

import type { Machine } from "../../src/plan/cluster.js";
import { describeModel } from "../../src/plan/model_description.js";
import { bucketCount, stepTime } from "../../src/plan/step_time.js";
import { parseConfig } from "../../src/train/config_file.js";
import type { ConfigInput } from "../../src/train/config.js";
import { singleLayout } from "../helpers/plan_layout.js";

// Each test prices one term of the step-time model and leaves every other free, so the
// prediction is that term alone, computed by hand from the model's shape.

const [L, T, d, vocab] = [2, 32, 64, 65];
const gpt = (extra: Partial<{ checkpoint: boolean; clip: number | null }> = {}) =>
  parseConfig(
    {
      model: { kind: "gpt", layers: L, heads: 4, width: d, context: T, checkpoint: extra.checkpoint ?? false },
      data: { kind: "text", batchSize: 8 },
      train: { clipGradNorm: extra.clip ?? null },
    } as ConfigInput,
    "test",
  );
const config = gpt();
const model = describeModel(config.model, vocab);

/** A machine on which everything is free but what `priced` sets. */
function machineWith(priced: Partial<Machine>): Machine {
  const free = { latency: 0, bandwidth: Infinity };
  return {
    source: "test",
    nodes: 1,
    devicesPerNode: 8,
    memoryPerDevice: null,
    matmulFlops: () => Infinity,
    matmulBackward: 0,
    attentionFlops: () => Infinity,
    attentionBackward: 0,
    elementwise: { forward: Infinity, training: Infinity },
    normalization: { forward: Infinity, training: Infinity },
    optimizerRate: Infinity,
    optimizerCall: 0,
    clipRate: Infinity,
    clipCall: 0,
    kernelCall: 0,
    autogradCall: 0,
    zero3Unit: 0,
    diskBandwidth: Infinity,
    collectiveWait: 0,
    gatherWait: 0,
    intraNode: free,
    interNode: free,
    ...priced,
  };
}

const near = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
const base = singleLayout(8);

test("each op pays the framework's call per micro-batch: an autograd op in training, a forward call more when checkpointing recomputes it", () => {
  // Catches the call overhead dropped, paid per sample instead of per micro-batch, or recomputation's calls forgotten.
  const calls = 4 + 11 * L + 4;
  const machine = machineWith({ autogradCall: 1e-3, kernelCall: 1e-4 });
  near(stepTime(config, model, base, machine).compute, calls * 1e-3, "one micro-batch");
  near(stepTime(config, model, { ...base, batchSize: 4, accumulate: 2 }, machine).compute, 2 * calls * 1e-3, "two accumulation steps");
  const checkpointed = gpt({ checkpoint: true });
  near(stepTime(checkpointed, describeModel(checkpointed.model, vocab), base, machine).compute, calls * 1e-3 + 11 * L * 1e-4, "blocks recomputed");
});

test("LayerNorm and the loss's softmax stream their rows at the normalization rate, element-wise ops at theirs, on every tensor rank", () => {
  // Catches the memory-bound passes left out, priced at the matmul rate, or split by tensor parallelism (the residual stream is whole on each rank).
  const normalized = L * 2 * T * d + T * d + T * vocab;
  const elementwise = L * 6 * T * d + 3 * T * d;
  const norms = machineWith({ normalization: { forward: 1e9, training: 1e8 } });
  near(stepTime(config, model, base, norms).compute, (8 * normalized) / 1e8, "normalizations");
  const adds = machineWith({ elementwise: { forward: 1e9, training: 1e8 } });
  near(stepTime(config, model, base, adds).compute, (8 * elementwise) / 1e8, "element-wise");
  near(stepTime(config, model, { ...base, tensor: 2 }, adds).compute, (8 * elementwise) / 1e8, "not split by tensor 2");
  const checkpointed = gpt({ checkpoint: true });
  const recomputed = stepTime(checkpointed, describeModel(checkpointed.model, vocab), base, norms).compute;
  near(recomputed, (8 * normalized) / 1e8 + (8 * L * 2 * T * d) / 1e9, "checkpointing recomputes the blocks' norms forward");
});

test("a matrix product's backward costs matmulBackward times its forward", () => {
  // Catches backward assumed to be two forwards whatever the calibration measured.
  const flops = L * 2 * T * 12 * d * d + 2 * T * d * vocab;
  const machine = machineWith({ matmulFlops: () => 1e9, matmulBackward: 3 });
  near(stepTime(config, model, base, machine).compute, (8 * flops * 4) / 1e9, "forward + 3 forwards");
  near(stepTime(config, model, base, { ...machine, matmulBackward: 2 }).compute, (8 * flops * 3) / 1e9, "forward + 2 forwards");
});

test("attention runs at the rate for the model's context, its backward at attentionBackward times its forward", () => {
  // Catches one attention rate for every context, or backward assumed to be two forwards.
  const flops = L * 2 * T * T * d;
  const machine = machineWith({ attentionFlops: (_, context) => (context === T ? 1e9 : 1e12), attentionBackward: 2.5 });
  near(stepTime(config, model, base, machine).compute, (8 * flops * 3.5) / 1e9, "forward + 2.5 forwards at the context's rate");
});

test("the optimizer pays a call per parameter tensor, and clipping a pass and a call per gradient when the config clips", () => {
  // Catches the per-tensor costs dropped, or clipping priced for a config that does not clip.
  const tensors = 2 + 12 * L + 2;
  const machine = machineWith({ optimizerCall: 1e-3, clipCall: 1e-4, clipRate: 1e9 });
  near(stepTime(config, model, base, machine).optimizer, tensors * 1e-3, "no clipping");
  const clipped = gpt({ clip: 1 });
  near(stepTime(clipped, model, base, machine).optimizer, tensors * 1e-3 + tensors * 1e-4 + model.parameters / 1e9, "clipping");
});

test("gradient buckets: a first of 1 MiB, then up to 25 MiB; each all-reduce pays its latencies", () => {
  // Catches one latency for the whole gradient, or buckets of the wrong size.
  assert.deepEqual([2 ** 20, 2 ** 20 + 1, 26 * 2 ** 20, 26 * 2 ** 20 + 1].map(bucketCount), [1, 2, 2, 3]);
  const machine = machineWith({ intraNode: { latency: 1e-3, bandwidth: Infinity } });
  const ddp = stepTime(config, model, { ...base, data: 4, batchSize: 2 }, machine);
  near(ddp.dataComm, bucketCount(4 * model.parameters) * 2 * 3 * 1e-3, "4 ranks: 6 latencies per bucket");
});

test("ZeRO-3 gathers each module's unit in forward and again in backward of every accumulation step, and reduce-scatters it once", () => {
  // Catches the re-gathers of backward, or of later accumulation steps, left out; or units counted per layer.
  const units = 2 + 6 * L + 1;
  const machine = machineWith({ intraNode: { latency: 1e-3, bandwidth: Infinity } });
  const zero3 = stepTime(config, model, { ...base, data: 2, batchSize: 2, accumulate: 2, zero: 3 }, machine);
  near(zero3.dataComm, (1 + 2 * 2) * units * 1e-3, "2 ranks, 2 accumulation steps");
  // Catches the framework's cost per unit (measured: ZeRO-3 against DDP on tiny layers) dropped, or paid once per step.
  const perUnit = stepTime(config, model, { ...base, data: 2, batchSize: 2, accumulate: 2, zero: 3 }, machineWith({ zero3Unit: 1e-4 }));
  near(perUnit.dataComm, 2 * units * 1e-4, "2 accumulation steps");
});

test("a pipeline hands each micro-batch's activations over and their gradients back, a message each way per chunk", () => {
  // Catches the hand-over paid once per step instead of per micro-batch, or only one way.
  const machine = machineWith({ intraNode: { latency: 1e-3, bandwidth: Infinity } });
  const piped = stepTime(config, model, { ...base, pipeline: 2, microBatches: 4, schedule: "1f1b", accumulate: 2, batchSize: 4 }, machine);
  near(piped.pipelineComm, 2 * 2 * 4 * 1e-3, "2 accumulation steps × 2 directions × 4 micro-batches");
});

test("every collective inside forward and backward waits: tensor parallelism's all-reduces and the pipeline's hand-overs the collective wait, ZeRO-3's gathers the gather wait, not the gradients' buckets", () => {
  // Catches a wait left out, paid once per step instead of per collective and micro-batch, the two waits swapped, or added to DDP's all-reduce.
  const machine = machineWith({ collectiveWait: 1e-3, gatherWait: 1e-4 });
  const tensor = stepTime(config, model, { ...base, tensor: 2, microBatches: 2, batchSize: 4 }, machine);
  // Megatron's 4 per block, the embedding's and the head's: 4L + 2 per micro-batch.
  near(tensor.tensorComm, 2 * (4 * L + 2) * 1e-3, "2 micro-batches × (4L + 2) all-reduces");
  const piped = stepTime(config, model, { ...base, pipeline: 2, microBatches: 4, schedule: "1f1b", batchSize: 4 }, machine);
  near(piped.pipelineComm, 2 * 4 * 1e-3, "2 directions × 4 micro-batches");
  near(stepTime(config, model, { ...base, data: 2, batchSize: 4 }, machine).dataComm, 0, "DDP's buckets");
  // ZeRO-3: each unit gathered in forward and in backward of both accumulation steps; its reduce-scatter runs behind backward.
  const units = 2 + 6 * L + 1;
  near(stepTime(config, model, { ...base, data: 2, batchSize: 2, accumulate: 2, zero: 3 }, machine).dataComm, 2 * 2 * units * 1e-4, "ZeRO-3's gathers");
});
