/**
 * One rank of the tensor-parallel tests: a tiny GPT trained 20 AdamW steps (clipping at norm 1)
 * in one process, then the same GPT split over the group by TensorParallelGPT and trained on the
 * same batches; returns both runs' losses, the split model's final gradients and weights next
 * to the unsplit model's matching parts, and the checkpoint gathered from the split model.
 */
import { slice } from "../../src/ops/layout.js";
import { GPT, type GPTConfig } from "../../src/models/gpt.js";
import { TensorParallelGPT } from "../../src/models/tensor_parallel_gpt.js";
import { deferInit } from "../../src/nn/deferred.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { DeviceMesh, meshShape } from "../../src/parallel/mesh.js";
import { splitsOf } from "../../src/parallel/tensor/parallel_module.js";
import { cutSplit } from "../../src/parallel/tensor/split.js";
import { TensorParallel } from "../../src/parallel/tensor/strategy.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { adamwOf, ruleBatches, trainReference } from "./gpt_reference.js";

export interface TPArgs {
  vocabSize: number;
  tiedHead: boolean;
  sequenceParallel: boolean;
  dropout: number;
  steps: number;
  /** Data-parallel replicas (default 1): the group is a mesh of data × (size / data) tensor ranks. */
  data?: number;
}

/** Each check: this rank's values, then the unsplit model's. */
export interface TPResult {
  losses: [number[], number[]];
  norms: [number[], number[]];
  checks: Record<string, [number[], number[]]>;
  /** The checkpoint's full tensors (rank 0 only) against the unsplit model's. */
  checkpoint: Record<string, [number[], number[]]> | null;
}

const BATCH = 4,
  TIME = 8;

export function run(group: ProcessGroup, args: TPArgs): TPResult {
  const config: GPTConfig = { vocabSize: args.vocabSize, context: TIME, layers: 2, heads: 4, width: 16, tiedHead: args.tiedHead, dropout: args.dropout };
  const replicas = args.data ?? 1;
  // The global batch: each data-parallel replica trains on its BATCH rows of it.
  const data = ruleBatches(args.steps, BATCH * replicas, TIME, args.vocabSize);
  const reference = trainReference(config, data);
  const { full, optimizer: fullOptimizer } = reference;

  const mesh = DeviceMesh.build(group, meshShape(group.size, { data: replicas, tensor: group.size / replicas }));
  const tp = mesh.groups.tensor;
  manualSeed(7);
  const model = new TensorParallelGPT(
    deferInit(() => new GPT(config)),
    tp,
    { sequenceParallel: args.sequenceParallel },
  );
  const strategy = new TensorParallel(model, tp, { sequenceParallel: args.sequenceParallel, data: mesh.groups.data });
  const mine = (t: Tensor): Tensor => slice(t, 0, mesh.coords.data * BATCH, (mesh.coords.data + 1) * BATCH);
  const optimizer = adamwOf(model);
  const split = { losses: [] as number[], norms: [] as number[] };
  for (const [x, y] of data) {
    model.zeroGrad();
    tidy(() => {
      const loss = model.loss(mine(x), mine(y));
      strategy.backward(loss);
      // The global batch's loss: the mean of the replicas' (equal shares).
      const global = tensor([loss.item()]);
      mesh.groups.data.allReduce(global, "mean");
      split.losses.push(global.item());
    });
    split.norms.push(strategy.clipGradNorm(1));
    strategy.step(optimizer);
  }

  const splits = splitsOf(model);
  const fullParams = new Map(full.namedParameters());
  const checks: TPResult["checks"] = {};
  for (const [name, p] of model.namedParameters()) {
    const f = fullParams.get(name)!;
    const s = splits.get(p);
    const part = (t: Tensor): number[] => tidy(() => (s ? cutSplit(t, s.split, tp.rank, tp.size) : t.share()).toArray());
    if (!p.grad || !f.grad) throw new Error(`${name}: no gradient (split ${p.grad === null}, full ${f.grad === null})`);
    checks[`${name}.grad`] = [p.grad.toArray(), part(f.grad)];
    checks[name] = [p.toArray(), part(f)];
  }
  const state = strategy.stateDict(optimizer);
  let checkpoint: TPResult["checkpoint"] = null;
  if (Object.keys(state.model).length > 0) {
    checkpoint = {};
    for (const [name, piece] of Object.entries(state.model)) checkpoint[name] = [piece.data.toArray(), fullParams.get(name)!.toArray()];
    for (const [name, p] of fullParams) {
      for (const [key, t] of Object.entries(fullOptimizer.paramState(p)!.tensors))
        checkpoint[`optimizer.${name}.${key}`] = [state.optimizer[`${name}.${key}`]!.data.toArray(), t.toArray()];
    }
  }
  return { losses: [split.losses, reference.losses], norms: [split.norms, reference.norms], checks, checkpoint };
}
