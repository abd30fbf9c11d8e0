import assert from "node:assert/strict";
import { test } from "node:test";

import { clusterMachine, clusterSchema } from "../../src/plan/cluster.js";
import { describeModel } from "../../src/plan/model_description.js";
import { pipelineShape } from "../../src/plan/pipeline_shape.js";
import { allReduceSeconds, gatherSeconds, stepTime } from "../../src/plan/step_time.js";
import { parseConfig } from "../../src/train/config_file.js";
import { singleLayout } from "../helpers/plan_layout.js";

const config = parseConfig({ model: { kind: "gpt", layers: 6, heads: 4, width: 256, context: 128 }, data: { kind: "text", batchSize: 16 } }, "test");
const model = describeModel(config.model, 65);
const machine = clusterMachine(
  clusterSchema.parse({
    nodes: 2,
    devicesPerNode: 4,
    memoryPerDevice: 16e9,
    flops: { float32: 1e12 },
    intraNode: { bandwidth: 1e10, latency: 1e-5 },
    interNode: { bandwidth: 1e9, latency: 1e-4 },
  }),
  "test cluster",
);
const base = singleLayout(16);

test("ring collectives: 2(n − 1) messages of b/n for an all-reduce, n − 1 for a gather", () => {
  const link = { bandwidth: 1e9, latency: 1e-5 };
  assert.equal(allReduceSeconds(1, 1e9, link), 0);
  assert.ok(Math.abs(allReduceSeconds(4, 4e9, link) - 6 * (1e-5 + 1)) < 1e-12);
  assert.ok(Math.abs(gatherSeconds(4, 4e9, link) - 3 * (1e-5 + 1)) < 1e-12);
});

test("the pipeline's stretch is the simulated schedule's: (m + p − 1)/m for gpipe and 1f1b, less for interleaved", () => {
  // Catches a bubble that ignores the micro-batches or the stages.
  for (const schedule of ["gpipe", "1f1b"] as const) {
    const shape = pipelineShape(model, { ...base, pipeline: 4, microBatches: 8, schedule });
    assert.equal(shape.stretch, 11 / 8, schedule);
    assert.equal(shape.stages.length, 4);
    assert.equal(
      shape.stages.reduce((n, s) => n + s.layers.length, 0),
      model.layers.length,
      "every layer on one stage",
    );
  }
  const interleaved = pipelineShape(model, { ...base, pipeline: 2, microBatches: 4, schedule: "interleaved", virtualStages: 2 });
  assert.ok(interleaved.stretch < 5 / 4, `interleaved stretch ${interleaved.stretch}`);
  assert.equal(pipelineShape(model, { ...base, pipeline: 2, microBatches: 4, schedule: "gpipe" }).stages[0]!.inFlight, 4, "gpipe keeps every micro-batch");
  assert.equal(pipelineShape(model, { ...base, pipeline: 2, microBatches: 4, schedule: "1f1b" }).stages[1]!.inFlight, 1, "1f1b's last stage keeps one");
});

test("step time: checkpointing adds a forward of the blocks, ZeRO-3 moves 1.5× DDP's bytes, a group spanning nodes uses the slower link", () => {
  const plain = stepTime(config, model, base, machine);
  const withCheckpoints = parseConfig({ ...config, model: { ...config.model, checkpoint: true } }, "t");
  const checkpointed = stepTime(withCheckpoints, describeModel(withCheckpoints.model, 65), base, machine);
  assert.ok(checkpointed.compute > 1.2 * plain.compute && checkpointed.compute < (4 / 3) * plain.compute + 1e-12, "blocks cost 4 passes instead of 3");
  const ddp = stepTime(config, model, { ...base, data: 4, batchSize: 4 }, machine);
  // Bytes alone (their latencies and per-unit costs are step_time_terms.test.ts's): ZeRO-3 has a unit per module, DDP a few buckets.
  const bytesOnly = { ...machine, intraNode: { ...machine.intraNode, latency: 0 }, zero3Unit: 0 };
  const zero3Bytes = stepTime(config, model, { ...base, data: 4, batchSize: 4, zero: 3 }, bytesOnly);
  const ddpBytes = stepTime(config, model, { ...base, data: 4, batchSize: 4 }, bytesOnly);
  assert.ok(Math.abs(zero3Bytes.dataComm / ddpBytes.dataComm - 1.5) < 0.01, `ZeRO-3 / DDP bytes: ${zero3Bytes.dataComm / ddpBytes.dataComm}`);
  const acrossNodes = stepTime(config, model, { ...base, data: 8, batchSize: 2 }, machine);
  const perByte = (t: number, n: number): number => t / ((2 * (n - 1)) / n);
  assert.ok(perByte(acrossNodes.dataComm, 8) > 5 * perByte(ddp.dataComm, 4), "8 ranks over 2 nodes: the 1 GB/s link");
  assert.ok(ddp.compute < plain.compute / 3.5, "a quarter of the batch per rank");
});

test("tensor parallelism all-reduces the residual stream 4 times per block and once each at the embedding and the head (Megatron)", () => {
  // Catches exchanges counted per element instead of per tensor, or sized by the wrong tensor.
  const t2 = stepTime(config, model, { ...base, tensor: 2 }, machine);
  const each = allReduceSeconds(2, 16 * 128 * 256 * 4, { bandwidth: 1e10, latency: 1e-5 });
  assert.ok(Math.abs(t2.tensorComm - (4 * 6 + 2) * each) < 1e-12, `${t2.tensorComm} vs ${(4 * 6 + 2) * each}`);
});
