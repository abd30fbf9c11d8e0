/**
 * One rank of the ZeRO equivalence tests: a small MLP trained with AdamW, or Lion, LAMB or Muon
 * (two parameter groups, weight decay on the matrices only; Muon's AdamW part at a lower lr), clipping and accumulation on this rank's shard of fixed
 * synthetic batches, through a Strategy: DDP (`zero: 0`) or ZeroDataParallel at a stage. Small
 * bucket caps make several units, so the layout's padding and parameters that span two ranks'
 * chunks are exercised.
 */
import { withPrecision } from "../../src/amp/autocast.js";
import { Rng } from "../../src/data/random.js";
import { registerPostAccumulateGradHook } from "../../src/autograd/hooks.js";
import { mlp } from "../../src/models/mlp.js";
import { deferInit } from "../../src/nn/deferred.js";
import type { Module } from "../../src/nn/module.js";
import { mul } from "../../src/ops/binary.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { AdamW } from "../../src/optim/adamw.js";
import { Lamb } from "../../src/optim/lamb.js";
import { Lion } from "../../src/optim/lion.js";
import { Muon } from "../../src/optim/muon.js";
import type { Optimizer } from "../../src/optim/optimizer.js";
import { GradScaler } from "../../src/optim/grad_scaler.js";
import { DistributedDataParallel } from "../../src/parallel/ddp.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { disposeState, readerOfStates, type StrategyState } from "../../src/parallel/state.js";
import type { Strategy } from "../../src/parallel/strategy.js";
import { ZeroDataParallel } from "../../src/parallel/zero/zero.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { muonSplit } from "../../src/train/muon_split.js";

export interface ZeroArgs {
  /** The optimizer (default adamw). */
  optimizer?: "adamw" | "lion" | "lamb" | "muon";
  /** 0: DDP; 1, 2, 3: ZeRO at that stage (at 3 the model is built under deferInit: never whole on a rank). */
  zero: 0 | 1 | 2 | 3;
  steps: number;
  globalBatch: number;
  accumulate: number;
  /** Forward and loss under bf16 autocast (default float32). */
  precision?: "float32" | "bfloat16";
  /** Muon: Newton–Schulz in bfloat16 (nsBf16). */
  nsBf16?: boolean;
  /** Loss scaling with a GradScaler. */
  scaler?: boolean;
  /** ZeRO: at this step rank 0 alone puts an inf into its gradient chunk (all ranks must skip the step). */
  infOnRank0At?: number;
  /** Return this rank's checkpoint state after this many steps (`saved`). */
  saveAfter?: number;
  /** Start from the states of every rank of an earlier run (any stage and world size) after `step` steps. */
  resume?: { states: SavedState[]; step: number };
}

/** A StrategyState with its pieces as plain arrays, to travel between jobs. */
export type SavedState = Omit<StrategyState, "model" | "optimizer"> &
  Record<"model" | "optimizer", Record<string, { shape: number[]; start: number; data: number[] }>>;

function save(state: StrategyState): SavedState {
  const plain = (pieces: StrategyState["model"]) =>
    Object.fromEntries(Object.entries(pieces).map(([name, p]) => [name, { shape: [...p.shape], start: p.start, data: p.data.toArray() }]));
  const saved = { ...state, model: plain(state.model), optimizer: plain(state.optimizer) };
  disposeState(state);
  return saved;
}

function restore(saved: SavedState): StrategyState {
  const pieces = (plain: SavedState["model"]) =>
    Object.fromEntries(Object.entries(plain).map(([name, p]) => [name, { shape: p.shape, start: p.start, data: tensor(p.data) }]));
  return { ...saved, model: pieces(saved.model), optimizer: pieces(saved.optimizer) };
}

export interface ZeroResult {
  losses: number[];
  params: number[][];
  /** Reduce-scatters issued while some gradient of the step was not final yet. */
  duringBackward: number;
  /** Model parameters whose full `.grad` was still held after a synced backward. */
  fullGradsAfterSync: number;
  /** Steps after which every parameter was meta (stage 3 frees the gathered parameters). */
  freedBetweenSteps: number;
  /** Elements of optimizer state (Adam's moments) on this rank. */
  stateElements: number;
  skippedSteps: number;
  units: number;
  /** ZeRO: each unit's gathered size (chunk × ranks), and the elements all-gathered over the run. */
  unitSizes: number[];
  gathered: number;
  saved?: SavedState;
}

const FEATURES = 20,
  CLASSES = 5;

function makeOptimizer(kind: NonNullable<ZeroArgs["optimizer"]>, model: Module, params: Tensor[], nsBf16 = false): Optimizer<any> {
  const groups = [{ params: params.filter((p) => p.ndim >= 2) }, { params: params.filter((p) => p.ndim < 2), weightDecay: 0 }];
  if (kind === "lion") return new Lion(groups, { lr: 1e-3, weightDecay: 0.5 });
  if (kind === "lamb") return new Lamb(groups, { lr: 1e-2, weightDecay: 0.05 });
  if (kind === "muon") {
    const { matrices, others } = muonSplit(model);
    return new Muon([{ params: matrices }, { params: others, useMuon: false, lr: 3e-3 }], { lr: 0.02, weightDecay: 0.05, nsBf16 });
  }
  return new AdamW(groups, { lr: 1e-2, weightDecay: 0.05 });
}

export function run(group: ProcessGroup, args: ZeroArgs): ZeroResult {
  manualSeed(3);
  const build = () => mlp({ inputs: FEATURES, hidden: [48, 31], classes: CLASSES });
  const model = args.zero === 3 ? deferInit(build) : build();
  const strategy: Strategy =
    args.zero === 0
      ? new DistributedDataParallel(model, group, { bucketCapMB: 0.002, firstBucketCapMB: 0.0005 })
      : new ZeroDataParallel(model, group, { stage: args.zero, bucketCapMB: 0.002, firstBucketCapMB: 0.0005 });
  const params = model.parameters();
  // Gradients made final so far in this backward (this hook runs after the strategy's own).
  let finalGrads = 0,
    duringBackward = 0;
  for (const p of params) registerPostAccumulateGradHook(p, () => finalGrads++);
  const reduceScatter = group.reduceScatter.bind(group);
  group.reduceScatter = (...call) => {
    if (finalGrads < params.length) duringBackward++;
    return reduceScatter(...call);
  };
  let gathered = 0;
  const allGather = group.allGather.bind(group);
  group.allGather = (...call) => {
    gathered += call[0].size;
    return allGather(...call);
  };
  const optimizer = makeOptimizer(args.optimizer ?? "adamw", model, params, args.nsBf16);
  const scaler = args.scaler ? new GradScaler({ initScale: 2 ** 16 }) : null;
  const rng = Rng.seeded(11);
  const total = args.steps * args.globalBatch;
  const xs = Float32Array.from({ length: total * FEATURES }, () => rng.below(2001) / 1000 - 1);
  const ys = Int32Array.from({ length: total }, (_, i) => {
    const row = xs.subarray(i * FEATURES, i * FEATURES + CLASSES);
    return row.indexOf(Math.max(...row));
  });
  const perRank = args.globalBatch / group.size,
    micro = perRank / args.accumulate;
  const losses: number[] = [];
  let fullGradsAfterSync = 0,
    freedBetweenSteps = 0,
    saved: SavedState | undefined;
  if (args.resume) {
    const states = args.resume.states.map(restore);
    strategy.loadStateDict(readerOfStates(states), optimizer);
    for (const state of states) disposeState(state);
  }
  for (let step = args.resume?.step ?? 0; step < args.steps; step++) {
    let lossSum = 0;
    for (let m = 0; m < args.accumulate; m++) {
      // Rank r takes rows [r * perRank, (r + 1) * perRank) of the step's global batch.
      const first = step * args.globalBatch + group.rank * perRank + m * micro;
      const x = tensor(xs.slice(first * FEATURES, (first + micro) * FEATURES), { shape: [micro, FEATURES] });
      const y = tensor(ys.slice(first, first + micro), { dtype: "int32" });
      const sync = m === args.accumulate - 1;
      tidy(() => {
        const loss = withPrecision(args.precision ?? "float32", () => crossEntropy(model.forward(x), y));
        lossSum += loss.item() / args.accumulate;
        const share = mul(loss, 1 / args.accumulate);
        finalGrads = 0;
        strategy.backward(scaler ? scaler.scale(share) : share, { sync });
      });
      x.dispose();
      y.dispose();
    }
    if (args.zero > 0) fullGradsAfterSync += params.filter((p) => p.grad !== null).length;
    if (step === args.infOnRank0At && group.rank === 0 && strategy instanceof ZeroDataParallel) {
      strategy.shard.allMasters[0]!.grad!.toHost()[0] = Infinity;
    }
    if (scaler) strategy.unscale(scaler, optimizer);
    strategy.clipGradNorm(1.0);
    strategy.step(optimizer, scaler);
    optimizer.zeroGrad();
    if (params.every((p) => p.isMeta)) freedBetweenSteps++;
    losses.push(lossSum);
    if (step + 1 === args.saveAfter) saved = save(strategy.stateDict(optimizer));
  }
  const state = optimizer.stateDict().state;
  const stateElements = Object.values(state).reduce((n, s) => n + Object.values(s.tensors).reduce((k, t) => k + t.size, 0), 0);
  const read = (): number[][] => params.map((p) => p.toArray());
  strategy.dispose();
  return {
    losses,
    params: strategy instanceof ZeroDataParallel ? strategy.withFullParameters(read) : read(),
    freedBetweenSteps,
    duringBackward,
    fullGradsAfterSync,
    stateElements,
    skippedSteps: scaler?.skippedSteps ?? 0,
    units: strategy instanceof ZeroDataParallel ? strategy.units.length : 0,
    unitSizes: strategy instanceof ZeroDataParallel ? strategy.units.map((u) => u.chunk * group.size) : [],
    gathered,
    ...(saved ? { saved } : {}),
  };
}
