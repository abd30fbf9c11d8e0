/**
 * One rank of the DDP equivalence test: a small MLP trained with AdamW and clipping on this
 * rank's shard of fixed synthetic batches, through DDP's Strategy calls. With one rank the shard
 * is the global batch.
 */
import { DistributedSampler } from "../../src/data/distributed_sampler.js";
import { Rng } from "../../src/data/random.js";
import { SequentialSampler } from "../../src/data/sampler.js";
import { DistributedDataParallel } from "../../src/parallel/ddp.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { mlp } from "../../src/models/mlp.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { mul } from "../../src/ops/binary.js";
import { AdamW } from "../../src/optim/adamw.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";

export interface DDPArgs {
  steps: number;
  globalBatch: number;
  /** Micro-batches per step; all but the last run under noSync. */
  accumulate: number;
  /** DDP's overlap option (default true). */
  overlap?: boolean;
  /** zeroGrad(false): gradients stay the bucket views from step to step, zeroed in place. */
  keepGrads?: boolean;
}

const FEATURES = 20,
  CLASSES = 5;

export interface DDPResult {
  losses: number[];
  params: number[][];
  buckets: number;
  duringBackward: number;
  testedDuringBackward: number;
  /** Steps after whose synced backward every `.grad` was a view of its bucket's buffer. */
  gradsInBuckets: number;
}

export function run(group: ProcessGroup, args: DDPArgs): DDPResult {
  manualSeed(3);
  const model = mlp({ inputs: FEATURES, hidden: [48, 32], classes: CLASSES });
  if (group.rank !== 0) for (const p of model.parameters()) (p.data as Float32Array).fill(0.5); // DDP must broadcast rank 0's
  const ddp = new DistributedDataParallel(model, group, { bucketCapMB: 0.002, firstBucketCapMB: 0.0005, overlap: args.overlap });
  // All-reduces issued, and tests of all-reduces in flight, while a bucket still waits for
  // gradients, i.e. during backward.
  let duringBackward = 0,
    testedDuringBackward = 0;
  const inBackward = (): boolean => ddp.buckets.some((b) => b.pending > 0);
  const allReduce = group.allReduce.bind(group);
  group.allReduce = (...call) => {
    if (inBackward()) duringBackward++;
    const work = allReduce(...call);
    const isCompleted = work.isCompleted.bind(work);
    work.isCompleted = () => {
      if (inBackward()) testedDuringBackward++;
      return isCompleted();
    };
    return work;
  };
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.01 });
  const rng = Rng.seeded(11);
  const total = args.steps * args.globalBatch;
  const xs = Float32Array.from({ length: total * FEATURES }, () => rng.below(2001) / 1000 - 1);
  // A learnable rule: the class is the largest of the first CLASSES features.
  const ys = Int32Array.from({ length: total }, (_, i) => {
    const row = xs.subarray(i * FEATURES, i * FEATURES + CLASSES);
    return row.indexOf(Math.max(...row));
  });
  const order = new DistributedSampler(new SequentialSampler(total), { rank: group.rank, worldSize: group.size }).epochIndices(0);
  const perRank = args.globalBatch / group.size,
    micro = perRank / args.accumulate;
  const losses: number[] = [];
  let gradsInBuckets = 0;
  for (let step = 0; step < args.steps; step++) {
    let lossSum = 0;
    for (let m = 0; m < args.accumulate; m++) {
      const idx = order.subarray(step * perRank + m * micro, step * perRank + (m + 1) * micro);
      const x = tensor(
        Float32Array.from({ length: idx.length * FEATURES }, (_, k) => xs[idx[Math.floor(k / FEATURES)]! * FEATURES + (k % FEATURES)]!),
        { shape: [idx.length, FEATURES] },
      );
      const y = tensor(
        Int32Array.from(idx, (i) => ys[i]!),
        { dtype: "int32" },
      );
      tidy(() => {
        const loss = crossEntropy(model.forward(x), y);
        lossSum += loss.item() / args.accumulate;
        ddp.backward(mul(loss, 1 / args.accumulate), { sync: m === args.accumulate - 1 });
      });
      x.dispose();
      y.dispose();
    }
    if (ddp.buckets.every((b) => b.params.every((p) => p.grad!.storage === b.buffer.storage))) gradsInBuckets++;
    ddp.clipGradNorm(1.0);
    ddp.step(optimizer);
    optimizer.zeroGrad(!args.keepGrads);
    losses.push(lossSum);
  }
  return { losses, params: model.parameters().map((p) => p.toArray()), buckets: ddp.buckets.length, duringBackward, testedDuringBackward, gradsInBuckets };
}
