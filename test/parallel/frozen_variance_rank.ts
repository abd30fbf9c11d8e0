/**
 * One rank of the 1-bit Adam tests: the compressed all-reduce on known vectors, and a short
 * training of an MLP (AdamW under DDP against OneBitAdam under FrozenVarianceDataParallel), with
 * float16 loss scaling and an injected overflow when asked.
 */
import { Rng } from "../../src/data/random.js";
import { mlp } from "../../src/models/mlp.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { AdamW } from "../../src/optim/adamw.js";
import { GradScaler } from "../../src/optim/grad_scaler.js";
import type { Optimizer } from "../../src/optim/optimizer.js";
import { OneBitAdam } from "../../src/parallel/compression/onebit_adam.js";
import { FrozenVarianceDataParallel } from "../../src/parallel/compression/frozen_variance_strategy.js";
import { OneBitAllReduce } from "../../src/parallel/compression/onebit_allreduce.js";
import { FrozenVarianceAdam } from "../../src/parallel/compression/frozen_variance_adam.js";
import { frozenVarianceCompression } from "../../src/parallel/compression/index.js";
import type { Module } from "../../src/nn/module.js";
import { DistributedDataParallel } from "../../src/parallel/ddp.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import { CLASSES, FEATURES, rankBatch } from "./compression_rank.js";

export type OneBitArgs =
  | { mode: "allreduce"; size: number; starts: number[]; steps: number }
  | { mode: "train"; optimizer: "adamw" | "onebitadam" | "topk" | "powersgd"; steps: number; freezeStep: number; overflowAt?: number; ratio?: number };

/** The frozen-variance optimizer of a run: 1-bit Adam, or top-k or PowerSGD as `parallel.compression.target` "momentum" builds them. */
function frozenVarianceAdam(model: Module, args: Extract<OneBitArgs, { mode: "train" }>, hyper: { lr: number }): FrozenVarianceAdam {
  const options = { ...hyper, freezeStep: args.freezeStep };
  if (args.optimizer === "onebitadam") return new OneBitAdam(model.parameters(), options);
  const spec = { kind: args.optimizer as "topk" | "powersgd", ratio: args.ratio ?? 0.01, rank: 2, target: "momentum" } as const;
  return new FrozenVarianceAdam(model.parameters(), { ...options, ...frozenVarianceCompression(spec) });
}

export interface TrainRun {
  losses: number[];
  /** commBytes after each step. */
  bytes: number[];
  /** The parameters after each step, flattened. */
  parameters: number[][];
  /** The loss scale after each step (1 without loss scaling), and whether the step was taken. */
  scales: number[];
  stepped: boolean[];
}

/** The vector rank `rank` averages at `step`: varied magnitudes and signs. */
export function knownVector(size: number, rank: number, step: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => Math.cos(0.53 * i + 2.1 * rank + 0.9 * step) * (1 + (i % 5)) - 0.2 * rank);
}

function allReduceRun(group: ProcessGroup, size: number, starts: number[], steps: number): { outputs: number[][]; bytes: number[] } {
  const reduce = new OneBitAllReduce(),
    outputs: number[][] = [],
    bytes: number[] = [];
  for (let step = 0; step < steps; step++) {
    const values = knownVector(size, group.rank, step);
    bytes.push(reduce.average(values, group, starts));
    outputs.push(Array.from(values));
  }
  return { outputs, bytes };
}

function train(group: ProcessGroup, args: Extract<OneBitArgs, { mode: "train" }>): TrainRun {
  manualSeed(3);
  const model = mlp({ inputs: FEATURES, hidden: [48, 32], classes: CLASSES });
  const options = { bucketCapMB: 0.004, firstBucketCapMB: 0.001 },
    hyper = { lr: 1e-2 };
  const [strategy, optimizer]: [DistributedDataParallel, Optimizer<any>] =
    args.optimizer === "adamw"
      ? [new DistributedDataParallel(model, group, options), new AdamW(model.parameters(), hyper)]
      : [new FrozenVarianceDataParallel(model, group, options), frozenVarianceAdam(model, args, hyper)];
  const scaler = args.overflowAt !== undefined ? new GradScaler({ initScale: 1024 }) : null;
  const rng = Rng.seeded(11);
  const run: TrainRun = { losses: [], bytes: [], parameters: [], scales: [], stepped: [] };
  for (let step = 0; step < args.steps; step++) {
    const { x, y } = rankBatch(rng, group);
    tidy(() => {
      const loss = crossEntropy(model.forward(x), y);
      run.losses.push(loss.item());
      strategy.backward(scaler ? scaler.scale(loss) : loss);
    });
    x.dispose();
    y.dispose();
    // Rank 0's gradient overflows at step overflowAt (a float16 loss-scaled step that went inf).
    if (step === args.overflowAt && group.rank === 0) model.parameters()[0]!.grad!.toHost()[0] = Number.POSITIVE_INFINITY;
    const skippedBefore = scaler?.skippedSteps ?? 0;
    if (scaler) strategy.unscale(scaler, optimizer);
    strategy.step(optimizer, scaler);
    optimizer.zeroGrad();
    run.stepped.push((scaler?.skippedSteps ?? 0) === skippedBefore);
    run.scales.push(scaler?.getScale() ?? 1);
    run.bytes.push(strategy.commBytes);
    run.parameters.push(model.parameters().flatMap((p) => Array.from(p.toHost() as Float32Array)));
  }
  strategy.dispose();
  return run;
}

export function run(group: ProcessGroup, args: OneBitArgs): unknown {
  return args.mode === "allreduce" ? allReduceRun(group, args.size, args.starts, args.steps) : train(group, args);
}
