/**
 * One rank of the compression tests: each hook run for three steps on small buckets of known
 * gradients (rank- and step-dependent, so the test can recompute the result by hand), the bytes
 * each hook sends for realistic buckets, and a short DDP training of an MLP with each compressor.
 */
import { Rng } from "../../src/data/random.js";
import { mlp } from "../../src/models/mlp.js";
import type { Module } from "../../src/nn/module.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { AdamW } from "../../src/optim/adamw.js";
import { type CompressionSpec, hookFor } from "../../src/parallel/compression/index.js";
import type { CommunicationHook, GradientBucket } from "../../src/parallel/compression/hook.js";
import { DistributedDataParallel } from "../../src/parallel/ddp.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { disposeState, readerOfStates } from "../../src/parallel/state.js";
import { SingleProcess } from "../../src/parallel/strategy.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import { Tensor } from "../../src/tensor/tensor.js";

export type CompressionArgs =
  | { mode: "hooks"; specs: CompressionSpec[]; shapes: number[][]; steps: number; overflowAt?: number }
  | { mode: "train"; specs: CompressionSpec[]; steps: number; resumeAt?: number };

export interface HookRun {
  /** The bucket after the hook, per step. */
  outputs: number[][];
  /** Bytes the hook reported, per step. */
  bytes: number[];
}

export interface TrainRun {
  losses: number[];
  /** DDP's commBytes over the steps. */
  commBytes: number;
}

/** The gradient rank `rank` holds at `step`: a fixed pattern of varied magnitudes. */
export function knownGradient(size: number, rank: number, step: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => Math.sin(0.37 * i + 1.3 * rank + 0.7 * step) * (1 + (i % 7)) + 0.1 * rank);
}

/** Runs the hook on the known gradients; at step `overflowAt` rank 0's first entry is +inf. */
function runHook(hook: CommunicationHook, group: ProcessGroup, shapes: number[][], steps: number, overflowAt = -1): HookRun {
  const offsets: number[] = [];
  let size = 0;
  for (const shape of shapes) {
    offsets.push(size);
    size += shape.reduce((a, d) => a * d, 1);
  }
  const flat = Tensor.empty([size], "float32", "gradient");
  const run: HookRun = { outputs: [], bytes: [] };
  try {
    for (let step = 0; step < steps; step++) {
      flat.toHost().set(knownGradient(size, group.rank, step));
      if (step === overflowAt && group.rank === 0) flat.toHost()[0] = Number.POSITIVE_INFINITY;
      const bucket: GradientBucket = { index: 0, flat, shapes, offsets };
      run.bytes.push(hook.reduce(bucket, group));
      run.outputs.push(Array.from(flat.toHost()));
    }
  } finally {
    flat.dispose();
  }
  return run;
}

export const FEATURES = 20,
  CLASSES = 5,
  GLOBAL_BATCH = 32;

/** This rank's share of the next global batch of a learnable rule: the class is the largest of the first CLASSES features. */
export function rankBatch(rng: Rng, group: ProcessGroup): { x: Tensor; y: Tensor } {
  const xs = Float32Array.from({ length: GLOBAL_BATCH * FEATURES }, () => rng.below(2001) / 1000 - 1);
  const ys = Int32Array.from({ length: GLOBAL_BATCH }, (_, i) => {
    const row = xs.subarray(i * FEATURES, i * FEATURES + CLASSES);
    return row.indexOf(Math.max(...row));
  });
  const perRank = GLOBAL_BATCH / group.size,
    from = group.rank * perRank;
  return {
    x: tensor(xs.slice(from * FEATURES, (from + perRank) * FEATURES), { shape: [perRank, FEATURES] }),
    y: tensor(ys.slice(from, from + perRank), { dtype: "int32" }),
  };
}

/** A fresh replica under DDP with the spec's hook and warm-up (the same initial weights each time). */
function replica(group: ProcessGroup, spec: CompressionSpec): { model: Module; ddp: DistributedDataParallel; optimizer: AdamW } {
  manualSeed(3);
  const model = mlp({ inputs: FEATURES, hidden: [48, 32], classes: CLASSES });
  const ddp = new DistributedDataParallel(model, group, {
    bucketCapMB: 0.004,
    firstBucketCapMB: 0.001,
    hook: hookFor(spec),
    hookWarmupSteps: spec.warmupSteps,
  });
  return { model, ddp, optimizer: new AdamW(model.parameters(), { lr: 1e-2 }) };
}

/** Trains `steps` steps; at step `resumeAt` the run goes on in a new replica that loads the state so far, as a resumed run does (the hook's residuals are not in it). */
function train(group: ProcessGroup, spec: CompressionSpec, steps: number, resumeAt = -1): TrainRun {
  let { model, ddp, optimizer } = replica(group, spec);
  const rng = Rng.seeded(11);
  const losses: number[] = [];
  let commBytes = 0;
  for (let step = 0; step < steps; step++) {
    if (step === resumeAt) {
      const state = new SingleProcess(model).stateDict(optimizer);
      commBytes += ddp.commBytes;
      ddp.dispose();
      ({ model, ddp, optimizer } = replica(group, spec));
      ddp.loadStateDict(readerOfStates([state]), optimizer);
      disposeState(state);
    }
    const { x, y } = rankBatch(rng, group);
    tidy(() => {
      const loss = crossEntropy(model.forward(x), y);
      losses.push(loss.item());
      ddp.backward(loss);
    });
    x.dispose();
    y.dispose();
    ddp.step(optimizer);
    optimizer.zeroGrad();
  }
  ddp.dispose();
  return { losses, commBytes: commBytes + ddp.commBytes };
}

export function run(group: ProcessGroup, args: CompressionArgs): HookRun[] | TrainRun[] {
  if (args.mode === "train") return args.specs.map((spec) => train(group, spec, args.steps, args.resumeAt));
  return args.specs.map((spec) => {
    const hook = hookFor(spec);
    if (!hook) throw new Error("compression_rank: hooks mode needs a compressor");
    return runHook(hook, group, args.shapes, args.steps, args.overflowAt);
  });
}
