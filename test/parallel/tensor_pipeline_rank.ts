/**
 * One rank of the 3D tests (tensor × pipeline × data): a tiny GPT trained some AdamW steps
 * (clipping at norm 1) in one process on the global batch, then the same GPT split over the
 * mesh's tensor group by TensorParallelGPT, cut into pipeline stages by PipelineParallel (1F1B,
 * 2 micro-batches) and replicated over its data group, trained on the same batches through the
 * language-model task's loss (the last stage's vocabulary-parallel cross-entropy). Returns both
 * runs' losses and norms, this rank's last gradients and final weights next to the unsplit
 * model's matching parts, and this rank's checkpoint pieces next to the unsplit model's tensors.
 */
import { GPT, type GPTConfig } from "../../src/models/gpt.js";
import { TensorParallelGPT } from "../../src/models/tensor_parallel_gpt.js";
import { deferInit } from "../../src/nn/deferred.js";
import { slice } from "../../src/ops/layout.js";
import { DeviceMesh, meshShape } from "../../src/parallel/mesh.js";
import { PipelineParallel } from "../../src/parallel/pipeline/pipeline.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { splitsOf } from "../../src/parallel/tensor/parallel_module.js";
import { cutSplit } from "../../src/parallel/tensor/split.js";
import { tensor } from "../../src/tensor/create.js";
import { memory } from "../../src/tensor/memory.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { adamwOf, languageModelRun, ruleBatches, trainReference } from "./gpt_reference.js";

export interface TPPArgs {
  data: number;
  tensor: number;
  pipeline: number;
  steps: number;
  tiedHead: boolean;
}

/** Each check: this rank's values, then the unsplit model's. */
export interface TPPResult {
  losses: [number[], number[]];
  norms: [number[], number[]];
  checks: Record<string, [number[], number[]]>;
  /** This rank's checkpoint pieces (whole tensors) next to the unsplit model's. */
  checkpoint: Record<string, [number[], number[]]>;
  /** Every tensor name of the unsplit model's state. */
  names: string[];
  /** After the first step: [the tracker's parameter bytes of the split model, its stage's tensors' bytes]. */
  stageBytes: [number, number];
}

const BATCH = 4,
  TIME = 8,
  VOCAB = 65;

export function run(group: ProcessGroup, args: TPPArgs): TPPResult {
  const config: GPTConfig = { vocabSize: VOCAB, context: TIME, layers: 2, heads: 4, width: 16, tiedHead: args.tiedHead };
  const data = ruleBatches(args.steps, BATCH * args.data, TIME, VOCAB);
  const reference = trainReference(config, data);
  const { full, optimizer: fullOptimizer } = reference;

  const mesh = DeviceMesh.build(group, meshShape(group.size, { data: args.data, tensor: args.tensor, pipeline: args.pipeline }));
  const before = memory.report().current.parameter;
  manualSeed(7);
  // Deferred: the stage materialises only its own layers' parts.
  const model = new TensorParallelGPT(
    deferInit(() => new GPT(config)),
    mesh.groups.tensor,
    { deferred: true },
  );
  const pipe = new PipelineParallel(model, mesh.groups.pipeline, {
    schedule: "1f1b",
    microBatches: 2,
    dataGroup: mesh.groups.data,
    tensorGroup: mesh.groups.tensor,
  });
  const optimizer = adamwOf(model);
  const mine = (t: Tensor): Tensor => slice(t, 0, mesh.coords.data * BATCH, (mesh.coords.data + 1) * BATCH);
  const split = { losses: [] as number[], norms: [] as number[] };
  let stageBytes: [number, number] = [0, 0];
  for (const [x, y] of data) {
    model.zeroGrad();
    tidy(() => {
      const value = pipe.runMicroBatch(languageModelRun(mine(x), mine(y)));
      // The global batch's loss: the mean of the replicas' (equal shares).
      const global = tensor([value]);
      mesh.groups.data.allReduce(global, "mean");
      split.losses.push(global.item());
    });
    split.norms.push(pipe.clipGradNorm(1));
    pipe.step(optimizer);
    if (split.losses.length === 1) {
      const stage = new Set((pipe.chunks ?? []).flatMap((chunk) => Object.values(chunk.stateDict())));
      stageBytes = [memory.report().current.parameter - before, [...stage].reduce((n, t) => n + t.size * 4, 0)];
    }
  }

  const tp = mesh.groups.tensor;
  const splits = splitsOf(model);
  const fullParams = new Map(full.namedParameters());
  const checks: TPPResult["checks"] = {};
  for (const [name, p] of model.namedParameters()) {
    if (!p.grad) continue; // another stage trains it
    const f = fullParams.get(name)!;
    const s = splits.get(p);
    const part = (t: Tensor): number[] => tidy(() => (s ? cutSplit(t, s.split, tp.rank, tp.size) : t.share()).toArray());
    checks[`${name}.grad`] = [p.grad.toArray(), part(f.grad!)];
    checks[name] = [p.toArray(), part(f)];
  }
  const state = pipe.stateDict(optimizer);
  const checkpoint: TPPResult["checkpoint"] = {};
  for (const [name, piece] of Object.entries(state.model)) checkpoint[name] = [piece.data.toArray(), fullParams.get(name)!.toArray()];
  for (const [key, piece] of Object.entries(state.optimizer)) {
    const dot = key.lastIndexOf(".");
    const expected = fullOptimizer.paramState(fullParams.get(key.slice(0, dot))!)!.tensors[key.slice(dot + 1)]!;
    checkpoint[`optimizer.${key}`] = [piece.data.toArray(), expected.toArray()];
  }
  pipe.dispose();
  return {
    losses: [split.losses, reference.losses],
    norms: [split.norms, reference.norms],
    checks,
    checkpoint,
    names: Object.keys(full.stateDict()),
    stageBytes,
  };
}
