/**
 * One rank of the resharding tests: an MLP trained with AdamW and clipping on fixed synthetic
 * global batches (rank r of M takes the r-th M-th of each), under the strategy its layout names.
 * It may save a checkpoint after `saveAt` steps, or start from one written by another job (any
 * world size and layout), and reports the global loss of every step it trains and the final
 * parameters.
 */
import { Rng } from "../../src/data/random.js";
import { mlp } from "../../src/models/mlp.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { AdamW } from "../../src/optim/adamw.js";
import { DistributedDataParallel } from "../../src/parallel/ddp.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { disposeState } from "../../src/parallel/state.js";
import { SingleProcess, type Strategy } from "../../src/parallel/strategy.js";
import { ZeroDataParallel } from "../../src/parallel/zero/zero.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";

export interface ReshardArgs {
  /** "single" (one process), "ddp", "zero-1", "zero-2", "zero-3". */
  layout: string;
  /** The step the run ends after. */
  steps: number;
  /** Save a checkpoint here after this many steps. */
  saveAt?: { step: number; dir: string };
  /** Start from this checkpoint (its step). */
  resumeFrom?: string;
}

export interface ReshardResult {
  /** Global loss of each step trained, by step number (from 1). */
  losses: Record<number, number>;
  /** Rank 0's pieces of the final model, by name. */
  params: number[][];
}

const FEATURES = 12,
  CLASSES = 4,
  GLOBAL_BATCH = 12;

function strategyOf(layout: string, model: ReturnType<typeof mlp>, group: ProcessGroup): Strategy {
  if (layout === "single") return new SingleProcess(model);
  if (layout === "ddp") return new DistributedDataParallel(model, group);
  const stage = Number(layout.slice("zero-".length));
  if (layout.startsWith("zero-") && (stage === 1 || stage === 2 || stage === 3)) return new ZeroDataParallel(model, group, { stage });
  throw new Error(`reshard_rank: unknown layout ${layout}`);
}

export function run(group: ProcessGroup, args: ReshardArgs): ReshardResult {
  // A resumed job starts from other weights: only the checkpoint can make it continue the run.
  manualSeed(args.resumeFrom ? 99 : 5);
  const model = mlp({ inputs: FEATURES, hidden: [24, 16], classes: CLASSES });
  const strategy = strategyOf(args.layout, model, group);
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.01 });
  let step = 0;
  if (args.resumeFrom) {
    const checkpoint = loadCheckpoint(args.resumeFrom);
    strategy.loadStateDict(checkpoint.reader, optimizer);
    step = checkpoint.meta.step;
    checkpoint.close();
  }
  const rng = Rng.seeded(21);
  const total = args.steps * GLOBAL_BATCH;
  const xs = Float32Array.from({ length: total * FEATURES }, () => rng.below(2001) / 1000 - 1);
  const ys = Int32Array.from({ length: total }, (_, i) => {
    const row = xs.subarray(i * FEATURES, i * FEATURES + CLASSES);
    return row.indexOf(Math.max(...row));
  });
  const size = args.layout === "single" ? 1 : group.size,
    rank = args.layout === "single" ? 0 : group.rank,
    perRank = GLOBAL_BATCH / size;
  const losses: Record<number, number> = {};
  for (; step < args.steps; step++) {
    const first = step * GLOBAL_BATCH + rank * perRank;
    const x = tensor(xs.slice(first * FEATURES, (first + perRank) * FEATURES), { shape: [perRank, FEATURES] });
    const y = tensor(ys.slice(first, first + perRank), { dtype: "int32" });
    const loss = tensor([0]);
    tidy(() => {
      const l = crossEntropy(model.forward(x), y);
      loss.data[0] = l.item();
      strategy.backward(l);
    });
    if (size > 1) group.allReduce(loss, "mean").wait();
    losses[step + 1] = loss.item();
    for (const t of [x, y, loss]) t.dispose();
    strategy.clipGradNorm(1.0);
    strategy.step(optimizer);
    optimizer.zeroGrad();
    if (args.saveAt && step + 1 === args.saveAt.step) {
      const state = strategy.stateDict(optimizer);
      saveCheckpoint(args.saveAt.dir, { state, meta: { step: step + 1, epoch: 0 } }, size > 1 ? group : undefined);
      disposeState(state);
    }
  }
  // Rank 0's pieces of the final model (the whole model under DDP; its slices under ZeRO-3,
  // where parameters are not whole between steps), to compare runs of one layout.
  const final = strategy.stateDict(optimizer);
  const params = Object.keys(final.model)
    .sort()
    .map((name) => final.model[name]!.data.toArray());
  disposeState(final);
  strategy.dispose();
  return { losses, params };
}
