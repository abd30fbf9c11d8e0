import { materialize } from "../../nn/deferred.js";
import { materializeInPlace } from "../../tensor/materialize.js";
import type { Sequential } from "../../nn/containers.js";
import type { Module } from "../../nn/module.js";
import { clipGradNorm, gradNorm, type NormCombine } from "../../optim/clip.js";
import type { GradScaler } from "../../optim/grad_scaler.js";
import type { Optimizer } from "../../optim/optimizer.js";
import { fillWith, tensor } from "../../tensor/create.js";
import type { DType } from "../../tensor/dtype.js";
import { Tensor } from "../../tensor/tensor.js";
import { anyRank } from "../any_rank.js";
import type { ProcessGroup } from "../process_group.js";
import { shardedNorm } from "../sharded_norm.js";
import { loadWholeState } from "../replicated_state.js";
import { splitsOf } from "../tensor/parallel_module.js";
import { fullShapes, gatheredState, loadPartState } from "../tensor/split_state.js";
import type { StateReader, StrategyState } from "../state.js";
import { type BatchCounts, type MicroBatchRun, optimizerStep, type Strategy } from "../strategy.js";
import { recvTensor, sendTensor } from "./p2p.js";
import { runStageTicks } from "./stage_ticks.js";
import { balancedCut, checkCut, layersOf, measureLayerCosts, PIPELINE_LAYERS, stageOf } from "./partition.js";
import { planSchedule, type ScheduleName } from "./schedule.js";
import { MicroBatches } from "./micro_batches.js";
import { stageSharing, type Tie } from "./shared_tensors.js";
import { StageZero } from "./stage_zero.js";
import type { PipelineOptions, TracedAction, TracedExchange } from "./pipeline_options.js";
import { simulate, type Timeline } from "./timeline.js";

/**
 * Pipeline parallelism: the model's layers (a Sequential's, or `pipelineLayers()`) are cut into
 * consecutive parts, one per rank of `group` (v per rank, interleaved), each batch is split into
 * micro-batches, and every rank runs its stage's forwards and backwards in the order of the
 * schedule's plan (schedule.ts), passing activations forward and their gradients back with
 * send/recv (the loss is computed on the last stage). The plan is simulated first (timeline.ts)
 * and run tick by tick: each rank exchanges the messages of each tick in the one order every
 * rank shares, so blocking sends cannot wait on each other (a link's dtype and shape go once a
 * step per micro-batch size, so a send is one message: StepLinks), and every send and recv is bounded
 * by the group's timeout, so a stage that stalls fails its neighbours with the op and the ranks
 * named, and them theirs.
 *
 * Every rank builds the whole model (the same seeded weights) and trains only its parts'
 * parameters; the optimizer skips the others (they get no gradient). A model built under
 * `nn.deferInit` is never whole on a rank: its stage's tensors are materialised after the cut
 * (eager init's values, so every layout starts alike) and the others stay meta. A parameter used by
 * several stages (a tied embedding and head) gets the sum of their gradients and is counted
 * once in the gradient norm. With a data group (DDP across pipelines) the gradients are
 * averaged over it when the step's last micro-batch is done (no overlap with backward).
 *
 * @example
 * const pipe = new PipelineParallel(gpt, mesh.groups.pipeline, { schedule: "1f1b", microBatches: 4, dataGroup: mesh.groups.data });
 * trainer = new Trainer({ model: gpt, strategy: pipe, ... });   // the Trainer calls pipe.runMicroBatch
 */
export class PipelineParallel implements Strategy {
  readonly timeline: Timeline;
  readonly stage: number;
  readonly stages: number;
  readonly microBatches: number;
  readonly chunksPerRank: number;
  /** This rank's chunks (after the first batch: the cut is measured on it). */
  chunks: Sequential[] | null = null;
  /** Layers of every part, in order (after the first batch). */
  cut: number[] | null = null;
  /** With options.trace: this rank's actions in the last runMicroBatch, with their times. */
  readonly trace: TracedAction[] = [];
  /** With options.trace: this rank's sends and receives in the last runMicroBatch, with their times (a receive's includes its wait). */
  readonly exchangeTrace: TracedExchange[] = [];
  private own: Tensor[] = [];
  /** Shared parameters counted on a lower stage: left out of this rank's share of the norm. */
  private countedElsewhere: Tensor[] = [];
  private ties: Tie[] = [];
  /** The model tensors this rank writes to a checkpoint (after the cut): those its stage is the first to use. */
  private writes: Set<Tensor> | null = null;
  private readonly schedule: ScheduleName;
  /** The simulated plans by micro-batch count (a short last batch may have fewer micro-batches). */
  private readonly timelines = new Map<number, Timeline>();
  /** Built under deferInit: only this stage's tensors are materialised (after the cut). */
  private readonly deferred: boolean;
  /** With options.zero 1 and a data group (after the cut): the stage's optimizer state sharded over it. */
  private zero: StageZero | null = null;

  constructor(
    readonly module: Module,
    readonly group: ProcessGroup,
    readonly options: PipelineOptions = {},
  ) {
    // A model built under deferInit stays meta until the cut: each rank then materialises its stage only.
    this.deferred = [...module.parameters(), ...module.namedBuffers().map(([, t]) => t)].some((t) => t.isMeta);
    this.schedule = options.schedule ?? "1f1b";
    this.stages = group.size;
    this.stage = group.rank;
    this.microBatches = options.microBatches ?? 1;
    this.chunksPerRank = this.schedule === "interleaved" ? (options.virtualStages ?? 2) : 1;
    this.timeline = this.timelineFor(this.microBatches);
    // The cut's counts are known before any batch: checked here, on every rank alike, before any collective.
    const layers = layersOf(module).length;
    if (options.stageLayers) checkCut(options.stageLayers, layers, this.virtualStages);
    else if (layers < this.virtualStages)
      throw new RangeError(`pipeline: ${layers} ${PIPELINE_LAYERS} cannot be cut into ${this.virtualStages} parts (one layer at least each)`);
    const dataGroup = options.dataGroup;
    if (options.zero === 1 && options.tensorGroup)
      throw new RangeError("pipeline: ZeRO-1 on the data dimension does not combine with a tensor group (tensor parallel runs with zero 0 only)");
    if (dataGroup && dataGroup.size > 1) {
      // (A deferred model needs none: its seeded recipes give every rank the same weights.)
      if (!this.deferred) for (const t of [...module.parameters(), ...module.namedBuffers().map(([, b]) => b)]) dataGroup.broadcast(t, 0);
    }
  }

  /** The simulated plan for m micro-batches, made once. */
  private timelineFor(m: number): Timeline {
    let timeline = this.timelines.get(m);
    if (!timeline) {
      // Backward computes two products per forward's one (input and weight gradients).
      timeline = simulate(planSchedule(this.schedule, this.stages, m, this.chunksPerRank), { forward: 1, backward: 2 });
      this.timelines.set(m, timeline);
    }
    return timeline;
  }

  private get virtualStages(): number {
    return this.stages * this.chunksPerRank;
  }

  /** Cuts the model (by hand, or balanced by forward times measured on `sample` on the job's rank 0) and finds the shared parameters. */
  private setup(sample: Tensor): Sequential[] {
    if (this.chunks) return this.chunks;
    const layers = layersOf(this.module),
      parts = this.virtualStages;
    if (this.options.stageLayers) this.cut = [...this.options.stageLayers];
    else {
      // Every pipeline must cut alike (the data group averages gradients parameter by parameter):
      // the first stage of the first pipeline's costs go to its data peers, then along each pipeline.
      const costs = tensor(measureLayerCosts(layers, sample));
      this.options.tensorGroup?.broadcast(costs, 0);
      this.options.dataGroup?.broadcast(costs, 0);
      this.group.broadcast(costs, 0);
      this.cut = balancedCut(costs.toArray(), parts);
      costs.dispose();
    }
    const partLayers: Module[][] = [];
    let at = 0;
    for (const size of this.cut) {
      partLayers.push(layers.slice(at, at + size));
      at += size;
    }
    const chunks = Array.from({ length: this.chunksPerRank }, (_, c) => stageOf(partLayers[c * this.stages + this.stage]!));
    ({ writes: this.writes, countedElsewhere: this.countedElsewhere, ties: this.ties } = stageSharing(partLayers, this.stages, this.stage, this.group));
    this.own = [...new Set(chunks.flatMap((c) => c.parameters()))].filter((p) => p.requiresGrad);
    if (this.deferred) this.holdOnly(chunks);
    const dataGroup = this.options.dataGroup;
    if (this.options.zero === 1 && dataGroup && dataGroup.size > 1) this.zero = new StageZero(this.own, dataGroup);
    this.chunks = chunks;
    return chunks;
  }

  /**
   * Materialises the tensors of this rank's chunks (eager init's values, from their recipes) and
   * gives back any other tensor that has elements (a resume loaded the whole model), so the rank
   * holds its stage's parameters only.
   */
  private holdOnly(chunks: Sequential[]): void {
    const mine = new Set(chunks.flatMap((c) => Object.values(c.stateDict())));
    for (const t of mine) if (t.isMeta) materializeInPlace(t);
    for (const t of Object.values(this.module.stateDict())) if (!mine.has(t)) t.unrealize();
  }

  runMicroBatch(run: MicroBatchRun): number {
    const batchX = new MicroBatches(run.x, this.microBatches),
      batchY = new MicroBatches(run.y, this.microBatches);
    const chunks = this.setup(batchX.parts[0]!);
    this.trace.length = 0;
    this.exchangeTrace.length = 0;
    // Fewer micro-batches than configured where the batch has fewer rows (an epoch's last).
    const timeline = this.timelineFor(batchX.parts.length);
    const loss = runStageTicks({
      stage: this.stage,
      stages: this.stages,
      virtualStages: this.virtualStages,
      weights: batchX.weights,
      group: this.group,
      timeline,
      chunks,
      xs: batchX.parts,
      ys: batchY.parts,
      run,
      trace: this.options.trace ? { actions: this.trace, exchanges: this.exchangeTrace } : null,
    });
    batchX.finish();
    batchY.finish();
    if (run.sync) this.finishGradients();
    return this.fromLastStage([loss])[0]!;
  }

  /** Values computed on the last stage, on every rank. */
  private fromLastStage(values: number[]): number[] {
    const t = tensor(this.stage === this.stages - 1 ? values : values.map(() => 0));
    try {
      this.group.broadcast(t, this.stages - 1);
      return t.toArray();
    } finally {
      t.dispose();
    }
  }

  private finishGradients(): void {
    const gradOf = (p: Tensor): Tensor => {
      if (!p.grad) {
        const zeros = fillWith(Tensor.empty(p.shape, p.dtype, "gradient"), 0);
        zeros.kept = true;
        p.grad = zeros;
      }
      return p.grad;
    };
    // The ties' sums first: ZeRO then reduces the stage's whole gradients once, as DDP would.
    for (const tie of this.ties) for (const p of tie.params) tie.group.allReduce(gradOf(p), "sum");
    if (this.zero) {
      this.zero.reduceGradients();
      return;
    }
    const dataGroup = this.options.dataGroup;
    if (dataGroup && dataGroup.size > 1) {
      const works = this.own.map((p) => dataGroup.allReduce(gradOf(p), "mean", { async: true }));
      for (const w of works) w.wait();
    }
  }

  /**
   * Evaluation through the stages, forward only, the whole batch at once: the last stage
   * computes the counts and every rank returns them.
   */
  evaluateBatch(x: Tensor, y: Tensor, evaluate: (module: Module, x: Tensor, y: Tensor) => BatchCounts): BatchCounts {
    const chunks = this.setup(x);
    let h = x,
      counts: BatchCounts | null = null;
    for (let vs = 0; vs < this.virtualStages; vs++) {
      const rank = vs % this.stages;
      if (rank !== this.stage) continue;
      const chunk = chunks[Math.floor(vs / this.stages)]!;
      if (vs > 0) h = recvTensor(this.group, (vs - 1) % this.stages, vs);
      if (vs === this.virtualStages - 1) counts = evaluate(chunk, h, y);
      else sendTensor(this.group, chunk.forward(h), (vs + 1) % this.stages, vs + 1);
    }
    const [loss, count, correct] = this.fromLastStage(counts ? [counts.loss, counts.count, counts.correct ?? Number.NaN] : [0, 0, 0]);
    return Number.isNaN(correct) ? { loss: loss!, count: count! } : { loss: loss!, count: count!, correct: correct! };
  }

  /** Not used: runMicroBatch runs backward inside the schedule. */
  backward(): void {
    throw new Error("PipelineParallel: backward runs inside runMicroBatch (the Trainer calls it); call runMicroBatch with the loss function");
  }

  /**
   * This stage's parameters as the norm counts them: with a tensor group, its split parameters
   * on every tensor rank and its replicated ones on tensor rank 0 only.
   */
  private counted(params: Tensor[]): Tensor[] {
    const tensorGroup = this.options.tensorGroup;
    if (!tensorGroup || tensorGroup.rank === 0) return params;
    const splits = splitsOf(this.module);
    return params.filter((p) => splits.has(p));
  }

  private combine(): NormCombine {
    const overStages = shardedNorm(this.group);
    const tensorGroup = this.options.tensorGroup;
    const overTensor = tensorGroup ? shardedNorm(tensorGroup) : (value: number) => value;
    const elsewhere = this.counted(this.countedElsewhere);
    return (partial, op) => {
      const duplicate = op === "sum" && elsewhere.length > 0 ? gradNorm(elsewhere, 2) ** 2 : 0;
      return overTensor(overStages(partial - duplicate, op), op);
    };
  }

  gradNorm(normType: 2 | typeof Infinity = 2): number {
    if (this.zero) return this.zero.gradNorm(normType, shardedNorm(this.group), this.countedElsewhere);
    return gradNorm(this.counted(this.own), normType, this.combine());
  }

  clipGradNorm(maxNorm: number, normType: 2 | typeof Infinity = 2): number {
    const norm = this.gradNorm(normType);
    if (this.zero) {
      this.zero.clip(maxNorm, normType, norm);
      return norm;
    }
    // Every parameter of the stage is scaled by the one factor of the whole model's norm (the
    // combine step yields the combined sum of squares for the 2-norm, the maximum otherwise).
    clipGradNorm(this.own, maxNorm, normType, (_, op) => (op === "sum" ? norm * norm : norm));
    return norm;
  }

  /** The scaler's unscale; every stage (and tensor rank) skips the step when any found inf/NaN. */
  unscale(gradScaler: GradScaler, optimizer: Optimizer<any>): void {
    // With ZeRO the data ranks hold different chunks of the gradients: they decide together too.
    const also = this.zero ? this.zero.group : this.options.tensorGroup;
    this.zero?.bind(optimizer);
    gradScaler.unscale(optimizer, (foundInf) => {
      const anyStage = anyRank(this.group, foundInf);
      return also ? anyRank(also, anyStage) : anyStage;
    });
  }

  step(optimizer: Optimizer<any>, gradScaler?: GradScaler | null): void {
    if (this.zero) this.zero.step(optimizer, () => optimizerStep(optimizer, gradScaler));
    else optimizerStep(optimizer, gradScaler);
  }

  /**
   * This rank's pieces of the checkpoint: the whole tensors its stage is the first to use (a
   * shared tensor is written once) with their optimizer state, on the first pipeline only (the
   * others hold the same); the first stage writes the parameter groups. Before the first batch
   * (no cut yet) the first stage writes everything. With a tensor group the split tensors are
   * gathered over it (a collective of the stage's tensor ranks) and its rank 0 writes them.
   */
  stateDict(optimizer: Optimizer<any>): StrategyState {
    if (this.zero) return this.shardedState(optimizer);
    const tensorGroup = this.options.tensorGroup ?? null;
    const firstPipeline = (this.options.dataGroup?.rank ?? 0) === 0;
    // A tensor group shares its data coordinate: a whole group skips the gathers together.
    if (!firstPipeline) return { model: {}, optimizer: {}, steps: {}, paramGroups: [], layout: "pipeline" };
    const writes = this.writes;
    const mine = new Map(Object.entries(this.module.stateDict()).map(([name, t]) => [name, writes === null ? this.stage === 0 : writes.has(t)]));
    const state = gatheredState(this.module, optimizer, tensorGroup ?? this.group, tensorGroup ? splitsOf(this.module) : new Map(), {
      layout: "pipeline",
      writes: (tensorGroup?.rank ?? 0) === 0,
      keep: (name) => mine.get(name) === true,
    });
    if (this.stage !== 0) state.paramGroups = [];
    return state;
  }

  /**
   * With ZeRO-1 (after the cut): every data rank's slices of the parameters its stage writes,
   * with their optimizer state; the first data rank adds the stage's other tensors whole
   * (buffers, untrained parameters), and the first stage's the parameter groups.
   */
  private shardedState(optimizer: Optimizer<any>): StrategyState {
    const zero = this.zero!,
      writes = this.writes!;
    const state: StrategyState = { model: {}, optimizer: {}, steps: {}, paramGroups: [], layout: "pipeline-zero-1" };
    zero.statePieces(this.module, optimizer, writes, state);
    if (zero.group.rank !== 0) return state;
    const sharded = new Set(zero.params);
    for (const [name, t] of Object.entries(this.module.stateDict()))
      if (writes.has(t) && !sharded.has(t)) state.model[name] = { shape: [...t.shape], start: 0, data: t.viewAs([t.size]) };
    if (this.stage === 0) state.paramGroups = zero.paramGroups(this.module, optimizer);
    return state;
  }

  /** With a tensor group: the full model's shapes, which its checkpoints hold (this rank's module holds splits). */
  checkpointShapes(): Record<string, { dtype: DType; shape: readonly number[] }> {
    return fullShapes(this.module, this.options.tensorGroup ? splitsOf(this.module) : new Map());
  }

  /**
   * Loads any checkpoint: every rank holds the whole model (with a tensor group, its split of
   * it, cut from the checkpoint's full tensors); the optimizer skips what this stage does not train.
   */
  loadStateDict(reader: StateReader, optimizer: Optimizer<any>): void {
    if (this.zero) {
      this.loadSharded(reader, optimizer);
      return;
    }
    const tensorGroup = this.options.tensorGroup;
    // Before the cut a deferred model is all meta: it is loaded whole, and the cut keeps this stage's part.
    if (this.deferred && this.chunks === null) materialize(this.module);
    if (tensorGroup || this.deferred)
      loadPartState(reader, this.module, optimizer, tensorGroup ? splitsOf(this.module) : new Map(), tensorGroup ?? { rank: 0, size: 1 });
    else loadWholeState(reader, this.module, optimizer);
  }

  /** With ZeRO-1 (after the cut): this rank's slices and optimizer state, and its stage's other tensors whole. */
  private loadSharded(reader: StateReader, optimizer: Optimizer<any>): void {
    const zero = this.zero!;
    zero.load(reader, this.module, optimizer);
    const sharded = new Set(zero.params);
    const names = new Map(Object.entries(this.module.stateDict()).map(([name, t]) => [t, name]));
    for (const t of new Set(this.chunks!.flatMap((c) => Object.values(c.stateDict())))) {
      if (sharded.has(t)) continue;
      const whole = reader.read("model", names.get(t)!, 0, t.size);
      t.toHost().set(whole.toHost());
      t.version++;
      whole.dispose();
    }
  }

  dispose(): void {
    for (const tie of this.ties) tie.group.destroy();
  }
}
