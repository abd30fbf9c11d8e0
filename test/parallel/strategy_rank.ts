/**
 * One rank of the strategy tests: the sharded gradient norm and which rank writes DDP's
 * checkpoint.
 */
import { checkpoint } from "../../src/autograd/checkpoint.js";
import { Linear } from "../../src/nn/linear.js";
import { sum } from "../../src/ops/reduce.js";
import { clipGradNorm, gradNorm } from "../../src/optim/clip.js";
import { SGD } from "../../src/optim/sgd.js";
import { DistributedDataParallel } from "../../src/parallel/ddp.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { shardedNorm } from "../../src/parallel/sharded_norm.js";
import { disposeState } from "../../src/parallel/state.js";
import { tensor } from "../../src/tensor/create.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";

/** Gradient i of the whole model: distinct values, so a missing or doubled shard shows. */
function gradient(i: number): number[] {
  return Array.from({ length: 5 }, (_, k) => (i + 1) * (k - 2) + 0.5 * i);
}

function withGrad(values: number[]): Tensor {
  const p = tensor(
    values.map(() => 0),
    { requiresGrad: true },
  );
  p.grad = tensor(values);
  return p;
}

export interface StrategyChecks {
  /** [this rank's sharded result, the whole model's on one rank] */
  norm2: [number, number];
  normInf: [number, number];
  clipped: [number[][], number[][]];
  /** Whether this rank's part of a checkpoint has any piece (DDP: rank 0 writes it all). */
  writesCheckpoint: boolean;
  checkpointKeys: string[];
  /** DDP's error for a parameter used inside and outside an activation checkpoint. */
  sharedAcrossCheckpoint: string;
}

export function run(group: ProcessGroup): StrategyChecks {
  const count = 2 * group.size;
  const whole = Array.from({ length: count }, (_, i) => withGrad(gradient(i)));
  // Rank r holds gradients r, r + size, ...: each rank a different shard of the model's.
  const mine = Array.from({ length: count }, (_, i) => i).filter((i) => i % group.size === group.rank);
  const shard = mine.map((i) => withGrad(gradient(i)));
  const combine = shardedNorm(group);
  const norm2: [number, number] = [gradNorm(shard, 2, combine), gradNorm(whole, 2)];
  const normInf: [number, number] = [gradNorm(shard, Infinity, combine), gradNorm(whole, Infinity)];
  clipGradNorm(shard, 1.0, 2, combine);
  clipGradNorm(whole, 1.0);
  const clipped: [number[][], number[][]] = [shard.map((p) => p.grad!.toArray()), mine.map((i) => whole[i]!.grad!.toArray())];
  const model = new Linear(3, 3);
  const ddp = new DistributedDataParallel(model, group);
  const state = ddp.stateDict(new SGD(model.parameters(), { lr: 0.1 }));
  let sharedAcrossCheckpoint = "";
  try {
    const x = tensor([[1, 2, 3]]);
    tidy(() => sum(model.forward(checkpoint((h) => model.forward(h), x))).backward());
  } catch (error) {
    sharedAcrossCheckpoint = (error as Error).message;
  }
  ddp.dispose();
  const checkpointKeys = Object.keys(state.model);
  disposeState(state);
  return { norm2, normInf, clipped, writesCheckpoint: checkpointKeys.length > 0, checkpointKeys, sharedAcrossCheckpoint };
}
