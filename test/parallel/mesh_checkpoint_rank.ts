/**
 * One rank of the checkpoints-across-meshes tests (4 ranks): a tiny GPT trained 3 AdamW steps
 * under the `write` layout, its checkpoint saved by every rank (saveCheckpoint), then loaded by
 * every `read` layout (one process on each rank, or the mesh) and trained 3 more steps on the
 * same batches; returns each continuation's losses next to one process that ran all 6 steps.
 */
import { join } from "node:path";

import { GPT, type GPTConfig } from "../../src/models/gpt.js";
import { TensorParallelGPT } from "../../src/models/tensor_parallel_gpt.js";
import { deferInit } from "../../src/nn/deferred.js";
import type { Module } from "../../src/nn/module.js";
import { slice } from "../../src/ops/layout.js";
import { AdamW } from "../../src/optim/adamw.js";
import { DeviceMesh, meshShape } from "../../src/parallel/mesh.js";
import { PipelineParallel } from "../../src/parallel/pipeline/pipeline.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { SingleProcess, type Strategy } from "../../src/parallel/strategy.js";
import { TensorParallel } from "../../src/parallel/tensor/strategy.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";
import { languageModel } from "../../src/train/task.js";
import { languageModelRun, ruleBatches } from "./gpt_reference.js";

/** single: one process on each rank; tensor: t 2 × d 2; pipeline: p 2 × d 2; tensorPipeline: t 2 × p 2. */
export type Layout = "single" | "tensor" | "pipeline" | "tensorPipeline";

export interface MeshCheckpointArgs {
  dir: string;
  write: Layout;
  read: Layout[];
}

/** Per read layout: [its losses of steps 4-6, the one-process run's]. */
export type MeshCheckpointResult = Record<string, [number[], number[]]>;

const ROWS = 4,
  TIME = 8,
  VOCAB = 13,
  STEPS = 6,
  SAVED_AT = 3;
const CONFIG: GPTConfig = { vocabSize: VOCAB, context: TIME, layers: 2, heads: 2, width: 16 };

interface Trained {
  strategy: Strategy;
  optimizer: AdamW;
  /** The data-parallel group (null: one replica) and this rank's index in it. */
  data: ProcessGroup | null;
}

/** The layout's model and strategy on this rank, from the seed (the same weights for every layout). */
function build(layout: Layout, group: ProcessGroup): Trained {
  manualSeed(7);
  const optimizerOf = (m: Module) => new AdamW(m.parameters(), { lr: 3e-3, weightDecay: 0.1 });
  if (layout === "single") {
    const model = new GPT(CONFIG);
    return { strategy: new SingleProcess(model), optimizer: optimizerOf(model), data: null };
  }
  const asked = layout === "tensor" ? { tensor: 2 } : layout === "pipeline" ? { pipeline: 2 } : { tensor: 2, pipeline: 2 };
  const mesh = DeviceMesh.build(group, meshShape(group.size, asked));
  const full = deferInit(() => new GPT(CONFIG));
  const model = layout === "pipeline" ? full : new TensorParallelGPT(full, mesh.groups.tensor, { deferred: layout === "tensorPipeline" });
  const strategy =
    layout === "tensor"
      ? new TensorParallel(model, mesh.groups.tensor, { data: mesh.groups.data })
      : new PipelineParallel(model, mesh.groups.pipeline, {
          microBatches: 2,
          dataGroup: mesh.groups.data,
          tensorGroup: layout === "tensorPipeline" ? mesh.groups.tensor : null,
        });
  return { strategy, optimizer: optimizerOf(model), data: mesh.groups.data };
}

/** One step on this rank's rows of the global batch; the global batch's loss. */
function step(t: Trained, x: Tensor, y: Tensor): number {
  const task = languageModel();
  const d = t.data?.size ?? 1,
    r = t.data?.rank ?? 0;
  const mine = (v: Tensor): Tensor => slice(v, 0, (r * ROWS) / d, ((r + 1) * ROWS) / d);
  const value = tidy(() => {
    if (t.strategy.runMicroBatch) {
      return t.strategy.runMicroBatch(languageModelRun(mine(x), mine(y)));
    }
    const loss = task.loss(t.strategy.module, { x: mine(x), y: mine(y) });
    t.strategy.backward(loss);
    return loss.item();
  });
  const global = tensor([value]);
  t.data?.allReduce(global, "mean");
  t.strategy.clipGradNorm(1);
  t.strategy.step(t.optimizer);
  t.optimizer.zeroGrad();
  return global.item();
}

export function run(group: ProcessGroup, args: MeshCheckpointArgs): MeshCheckpointResult {
  const data = ruleBatches(STEPS, ROWS, TIME, VOCAB);
  const reference = build("single", group);
  const expected = data.map(([x, y]) => step(reference, x, y)).slice(SAVED_AT);

  const dir = join(args.dir, `from-${args.write}`);
  const writer = build(args.write, group);
  for (const [x, y] of data.slice(0, SAVED_AT)) step(writer, x, y);
  saveCheckpoint(dir, { state: writer.strategy.stateDict(writer.optimizer), meta: { step: SAVED_AT, epoch: 0 } }, group);
  writer.strategy.dispose();
  group.barrier().wait();

  const out: MeshCheckpointResult = {};
  for (const layout of args.read) {
    const reader = build(layout, group);
    const checkpoint = loadCheckpoint(dir);
    try {
      reader.strategy.loadStateDict(checkpoint.reader, reader.optimizer);
    } finally {
      checkpoint.close();
    }
    out[layout] = [data.slice(SAVED_AT).map(([x, y]) => step(reader, x, y)), expected];
    reader.strategy.dispose();
  }
  return out;
}
