/**
 * One rank of the pipeline tests (threads and mpi): a tiny GPT trained for some AdamW steps by
 * PipelineParallel on this rank's stage and, on the same rank, by one process on the same
 * global batches from the same weights. Returns both runs' losses and gradient norms, and for
 * the parameters this stage trains, their last gradients and final values next to the
 * reference's; or, for the memory case, the stage's peak activation bytes.
 */
import { withPrecision } from "../../../src/amp/autocast.js";
import { GPT } from "../../../src/models/gpt.js";
import { deferInit } from "../../../src/nn/deferred.js";
import { mul } from "../../../src/ops/binary.js";
import { slice } from "../../../src/ops/layout.js";
import { crossEntropy } from "../../../src/ops/loss.js";
import { clipGradNorm } from "../../../src/optim/clip.js";
import { AdamW } from "../../../src/optim/adamw.js";
import { CountingGroup } from "../../../src/parallel/counting_group.js";
import { DeviceMesh, meshShape } from "../../../src/parallel/mesh.js";
import { PipelineParallel } from "../../../src/parallel/pipeline/pipeline.js";
import type { ScheduleName } from "../../../src/parallel/pipeline/schedule.js";
import type { ProcessGroup } from "../../../src/parallel/process_group.js";
import { disposeState, type StrategyState } from "../../../src/parallel/state.js";
import type { MicroBatchRun } from "../../../src/parallel/strategy.js";
import { tensor } from "../../../src/tensor/create.js";
import { memory } from "../../../src/tensor/memory.js";
import { manualSeed, randint } from "../../../src/tensor/random.js";
import { tidy } from "../../../src/tensor/scope.js";
import type { Tensor } from "../../../src/tensor/tensor.js";

export interface PipelineCase {
  pipeline: number;
  schedule: ScheduleName;
  microBatches: number;
  virtualStages?: number;
  steps: number;
  /** Global batch rows per step (split over data ranks, then micro-batches). */
  batch?: number;
  /** The last step's rows instead (an epoch's short last batch). */
  lastBatch?: number;
  checkpoint?: boolean;
  precision?: "float32" | "bfloat16";
  /** Trainer-style accumulation: this many runMicroBatch calls per step, the last one syncing. */
  accumulate?: number;
  tiedHead?: boolean;
  /** Layers per stage by hand (default: the measured cut, which may differ from run to run). */
  stageLayers?: number[];
  /** Only measure the stage's peak activation bytes over one step (no reference run). */
  memoryOnly?: boolean;
  /** This rank stalls (sleeps) this many ms in its first forward: the others must time out. */
  stall?: { rank: number; ms: number };
  /** Build the pipeline's model under deferInit: the rank materialises its stage only. */
  deferred?: boolean;
  /** ZeRO-1 over the data dimension: compare every parameter the stage trains (its gradients live in shards), and return its checkpoint state. */
  zero?: boolean;
}

export interface PipelineCaseResult {
  losses: number[];
  refLosses: number[];
  norms: number[];
  refNorms: number[];
  /** name → [this stage's, the reference's] (last step's gradients, final parameters). */
  grads: Record<string, [number[], number[]]>;
  params: Record<string, [number[], number[]]>;
  peakActivation: number;
  /** Sends this rank made on the pipeline group (headers and data). */
  sends: number;
  cut: number[];
  /** After the first step: [the tracker's parameter bytes of the pipeline's model, its stage's tensors' bytes, the whole model's]. */
  stageBytes: [number, number, number];
  /** With zero: this rank's checkpoint state after the last step, its pieces as plain arrays. */
  saved?: PlainState;
}

/** A StrategyState with its pieces as plain arrays, to travel out of a worker. */
export type PlainState = Omit<StrategyState, "model" | "optimizer"> &
  Record<"model" | "optimizer", Record<string, { shape: number[]; start: number; data: number[] }>>;

const CONTEXT = 8,
  VOCAB = 13;

export function modelOf(c: PipelineCase): GPT {
  manualSeed(1);
  return new GPT({ vocabSize: VOCAB, context: CONTEXT, layers: 6, heads: 2, width: 16, tiedHead: c.tiedHead ?? true, checkpoint: c.checkpoint ?? false });
}

function runCase(group: ProcessGroup, c: PipelineCase): PipelineCaseResult {
  const mesh = DeviceMesh.build(group, meshShape(group.size, { pipeline: c.pipeline }));
  const data = mesh.shape.data,
    dataRank = mesh.coords.data;
  const batch = c.batch ?? 8,
    accumulate = c.accumulate ?? 1,
    precision = c.precision ?? "float32";
  const autocast = <T>(fn: () => T): T => withPrecision(precision, fn);
  const ref = modelOf(c);
  const before = memory.report().current.parameter;
  const model = c.deferred ? deferInit(() => modelOf(c)) : modelOf(c);
  const hyper = { lr: 3e-3, weightDecay: 0.1, betas: [0.9, 0.99] as [number, number] };
  const refOpt = new AdamW(ref.parameters(), hyper),
    opt = new AdamW(model.parameters(), hyper);
  const pipelineGroup = new CountingGroup(mesh.groups.pipeline);
  const pipe = new PipelineParallel(model, pipelineGroup, {
    schedule: c.schedule,
    microBatches: c.microBatches,
    ...(c.virtualStages ? { virtualStages: c.virtualStages } : {}),
    ...(c.stageLayers ? { stageLayers: c.stageLayers } : {}),
    dataGroup: mesh.groups.data,
    zero: c.zero ? 1 : 0,
  });
  const out: PipelineCaseResult = {
    losses: [],
    refLosses: [],
    norms: [],
    refNorms: [],
    grads: {},
    params: {},
    peakActivation: 0,
    sends: 0,
    cut: [],
    stageBytes: [0, 0, 0],
  };
  const loss = (m: { forward(x: Tensor): Tensor }, x: Tensor, y: Tensor): Tensor => {
    if (c.stall && c.stall.rank === group.rank) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, c.stall.ms);
    return crossEntropy(m.forward(x), y);
  };
  for (let step = 0; step < c.steps; step++) {
    manualSeed(100 + step);
    const last = step === c.steps - 1;
    const stepBatch = last && c.lastBatch !== undefined ? c.lastBatch : batch;
    const rows = stepBatch * accumulate;
    const x = randint(0, VOCAB, [rows, CONTEXT]),
      y = randint(0, VOCAB, [rows, CONTEXT]);
    // The pipeline: this data rank's rows of each accumulated micro-batch.
    if (c.memoryOnly) memory.resetPeak();
    let value = 0;
    for (let a = 0; a < accumulate; a++) {
      const lo = a * stepBatch + (dataRank * stepBatch) / data,
        hi = lo + stepBatch / data;
      const run: MicroBatchRun = {
        x: slice(x, 0, lo, hi),
        y: slice(y, 0, lo, hi),
        loss: (m, xx, yy) => (c.stall ? loss(m, xx, yy) : crossEntropy(m.forward(xx), yy)),
        scaleLoss: (l) => (accumulate > 1 ? mul(l, 1 / accumulate) : l),
        autocast,
        sync: a === accumulate - 1,
      };
      value += tidy(() => pipe.runMicroBatch(run)) / accumulate;
    }
    if (c.memoryOnly) {
      out.peakActivation = memory.report().peak.activation;
      out.sends = pipelineGroup.counts.send.calls;
      return out;
    }
    const mean = tensor([value]);
    mesh.groups.data.allReduce(mean, "mean");
    out.losses.push(mean.item());
    out.norms.push(pipe.clipGradNorm(0.5));
    // The reference: one process, the whole global batch at once.
    tidy(() => {
      const l = autocast(() => crossEntropy(ref.forward(x), y));
      out.refLosses.push(l.item());
      l.backward();
    });
    out.refNorms.push(clipGradNorm(ref.parameters(), 0.5));
    if (last) {
      const refParams = new Map(ref.namedParameters());
      for (const [name, p] of model.namedParameters()) if (p.grad) out.grads[name] = [p.grad.toArray(), refParams.get(name)!.grad!.toArray()];
    }
    if (step === 0) {
      const bytes = (ts: Iterable<Tensor>): number => [...new Set(ts)].reduce((n, t) => n + t.size * 4, 0);
      const stage = (pipe.chunks ?? []).flatMap((chunk) => Object.values(chunk.stateDict()));
      out.stageBytes = [memory.report().current.parameter - before, bytes(stage), bytes(Object.values(ref.stateDict()))];
    }
    pipe.step(opt);
    refOpt.step();
    opt.zeroGrad();
    refOpt.zeroGrad();
    x.dispose();
    y.dispose();
  }
  const refParams = new Map(ref.namedParameters());
  if (c.zero) {
    const stageParams = new Set((pipe.chunks ?? []).flatMap((chunk) => chunk.parameters()));
    for (const [name, p] of model.namedParameters()) if (stageParams.has(p)) out.params[name] = [p.toArray(), refParams.get(name)!.toArray()];
    const state = pipe.stateDict(opt);
    const plain = (pieces: StrategyState["model"]) =>
      Object.fromEntries(Object.entries(pieces).map(([name, piece]) => [name, { shape: [...piece.shape], start: piece.start, data: piece.data.toArray() }]));
    out.saved = { ...state, model: plain(state.model), optimizer: plain(state.optimizer) };
    disposeState(state);
  }
  for (const name of Object.keys(out.grads)) out.params[name] = [new Map(model.namedParameters()).get(name)!.toArray(), refParams.get(name)!.toArray()];
  out.cut = pipe.cut ?? [];
  pipe.dispose();
  return out;
}

export function run(group: ProcessGroup, { cases }: { cases: PipelineCase[] }): PipelineCaseResult[] {
  return cases.map((c) => runCase(group, c));
}
