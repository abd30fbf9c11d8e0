import { currentBackward, registerPostAccumulateGradHook } from "../../autograd/hooks.js";
import { materialize, materializeShard } from "../../nn/deferred.js";
import type { Module } from "../../nn/module.js";
import { clipGradNorm, gradNorm } from "../../optim/clip.js";
import type { GradScaler } from "../../optim/grad_scaler.js";
import type { Optimizer } from "../../optim/optimizer.js";
import { addInPlace } from "../../ops/inplace.js";
import { materializeInPlace } from "../../tensor/materialize.js";
import { Tensor } from "../../tensor/tensor.js";
import { anyRank } from "../any_rank.js";
import type { ProcessGroup, Work } from "../process_group.js";
import { shardedNorm } from "../sharded_norm.js";
import type { StateReader, StrategyState } from "../state.js";
import type { Strategy } from "../strategy.js";
import { ParameterGatherer, unitsByModule } from "./gather.js";
import { allGatherUnits } from "./gather_units.js";
import { type ParamSlice, type Unit, unitsBySize } from "./partition.js";
import { ShardOptimizerState } from "./shard_optimizer_state.js";
import { ZeroParameterShards } from "./zero_parameter_shards.js";
import { loadShardState, shardState } from "./zero_state.js";

/** The ZeRO stages: 1 shards the optimizer state and master weights, 2 also the gradients, 3 also the parameters. */
export type ZeroStage = 1 | 2 | 3;

export interface ZeroOptions {
  stage: ZeroStage;
  /** Size of a unit (a reduce-scatter and all-gather bucket) in MiB (default 25, as DDP's). */
  bucketCapMB?: number;
  /** Size of the first unit in MiB (default 1), so communication starts early in backward. */
  firstBucketCapMB?: number;
}

/**
 * Sharded data parallelism (ZeRO, DeepSpeed's Zero Redundancy Optimizer) at stage 1 or 2: every
 * rank holds the whole model and runs forward and backward on its share of the batch, as DDP,
 * but the optimizer state and the f32 master weights are split across the ranks (layout:
 * partition.ts), so each rank's optimizer updates only its 1/world of the model; the updated
 * chunks are then all-gathered into every rank's parameters.
 *
 * Gradients leave backward reduce-scattered: each unit's gradients are moved into a flat buffer
 * as they become final (post-accumulate-grad hooks; the parameter's own `.grad` is freed at
 * once), and the unit's reduce-scatter (a mean) leaves this rank its chunk. Stage 1 issues them
 * when backward ends and keeps the flat buffers from step to step; stage 2 issues each as soon
 * as its unit is complete, overlapped with the rest of backward, and frees the buffer after it,
 * so between steps a rank holds only its chunk of the gradients. The result equals DDP's (and
 * one process on the global batch): the same averaged gradients feed the same elementwise
 * update. Clipping uses the global norm (the shards' sums of squares all-reduced), and with loss
 * scaling all ranks agree on skipping a step.
 *
 * @example
 * const zero = new ZeroDataParallel(model, group, { stage: 2 });
 * zero.backward(loss);            // this rank's chunk of the averaged gradients when it returns
 * zero.clipGradNorm(1.0);
 * zero.step(optimizer);           // updates this rank's chunk, then all-gathers the parameters
 * optimizer.zeroGrad();
 */
export class ZeroDataParallel implements Strategy {
  readonly stage: ZeroStage;
  readonly units: Unit[];
  readonly shard: ShardOptimizerState;
  /** Stage 3: gathers each module's parameters for its forward and frees them after. */
  private readonly gatherer: ParameterGatherer | null = null;
  private readonly where = new Map<Tensor, { unit: number; index: number }>();
  /** Per unit: the flat (padded) gradients of this backward, before the reduce-scatter. */
  private readonly flatGrads: (Tensor | null)[];
  /** Per unit: where the reduce-scatter lands when the chunk still holds earlier gradients. */
  private readonly received: (Tensor | null)[];
  private readonly works: (Work | null)[];
  private readonly pending: number[];
  private readonly ready = new Set<Tensor>();
  private nextLaunch = 0;
  private nextToFinish = 0;
  private syncing = true;
  private readonly removeHooks: (() => void)[];
  private readonly bound = new WeakSet<Optimizer<any>>();

  constructor(
    readonly module: Module,
    readonly group: ProcessGroup,
    options: ZeroOptions,
  ) {
    if (![1, 2, 3].includes(options.stage)) throw new RangeError(`ZeroDataParallel: stage must be 1, 2 or 3, got ${JSON.stringify(options.stage)}`);
    this.stage = options.stage;
    const cap = (options.bucketCapMB ?? 25) * 2 ** 20,
      firstCap = (options.firstBucketCapMB ?? 1) * 2 ** 20;
    if (!(cap > 0) || !(firstCap > 0))
      throw new RangeError(`ZeroDataParallel: bucket sizes must be positive, got ${options.bucketCapMB} and ${options.firstBucketCapMB} MiB`);
    const trained = module.parameters().filter((p) => p.requiresGrad);
    for (const p of trained) {
      if (p.dtype !== "float32") throw new TypeError(`ZeroDataParallel: parameters must be float32 master weights, got ${p.dtype} [${p.shape.join(", ")}]`);
    }
    if (this.stage === 3) {
      // Meta parameters (nn.deferInit) are never whole on a rank: each slice is drawn as eager
      // init draws it. Eager ones are rank 0's, as DDP's, then freed once sliced.
      const sharded = new Set(trained);
      for (const [, t] of [...module.namedParameters(), ...module.namedBuffers()]) if (t.isMeta && !sharded.has(t)) materializeInPlace(t);
      for (const p of module.parameters()) if (!p.isMeta) group.broadcast(p, 0);
      for (const [, t] of module.namedBuffers()) group.broadcast(t, 0);
      const { units, owners } = unitsByModule(module, group.size);
      this.units = units;
      this.shard = new ShardOptimizerState(units, group.rank, initialValues);
      for (const p of trained) p.unrealize();
      this.gatherer = new ParameterGatherer(module, units, owners, this.shard.masters, group);
    } else {
      materialize(module);
      for (const t of module.parameters()) group.broadcast(t, 0);
      for (const [, t] of module.namedBuffers()) group.broadcast(t, 0);
      // Reverse registration order: the order backward makes the gradients final.
      this.units = unitsBySize([...trained].reverse(), cap, firstCap, group.size);
      this.shard = new ShardOptimizerState(this.units, group.rank, initialValues);
    }
    this.units.forEach((unit, u) => {
      unit.params.forEach((p, index) => {
        this.where.set(p, { unit: u, index });
      });
    });
    this.flatGrads = this.units.map(() => null);
    this.received = this.units.map(() => null);
    this.works = this.units.map(() => null);
    this.pending = this.units.map((u) => u.params.length);
    this.removeHooks = trained.map((p) => registerPostAccumulateGradHook(p, (leaf) => this.gradReady(leaf)));
  }

  /**
   * Backward from `loss`; with `sync: false` the gradients accumulate in the parameters' own
   * `.grad` on this rank, to be reduce-scattered by the next synced backward.
   * @example zero.backward(loss, { sync: microBatch === last });
   */
  backward(loss: Tensor, options: { sync?: boolean } = {}): void {
    const before = this.syncing;
    this.syncing = options.sync ?? true;
    try {
      loss.backward();
    } finally {
      this.syncing = before;
    }
  }

  gradNorm(normType: 2 | typeof Infinity = 2): number {
    return gradNorm(this.shard.allMasters, normType, shardedNorm(this.group));
  }

  clipGradNorm(maxNorm: number, normType: 2 | typeof Infinity = 2): number {
    return clipGradNorm(this.shard.allMasters, maxNorm, normType, shardedNorm(this.group));
  }

  unscale(gradScaler: GradScaler, optimizer: Optimizer<any>): void {
    this.bind(optimizer);
    gradScaler.unscale(optimizer, (foundInf) => anyRank(this.group, foundInf));
  }

  step(optimizer: Optimizer<any>, gradScaler?: GradScaler | null): void {
    this.bind(optimizer);
    this.gatherer?.settle();
    if (gradScaler) {
      gradScaler.step(optimizer);
      gradScaler.update();
    } else optimizer.step();
    // Stage 3 gathers each unit again just before its next forward.
    if (this.stage < 3) this.gatherParameters();
  }

  /**
   * Runs fn with every parameter whole on this rank (stage 3 gathers them all for it, and frees
   * them after; stages 1 and 2 hold them anyway): reading or saving the whole model.
   * @example const weights = zero.withFullParameters(() => model.parameters().map((p) => p.toArray()));
   */
  withFullParameters<T>(fn: () => T): T {
    return this.gatherer ? this.gatherer.withAll(fn) : fn();
  }

  /** This rank's slices of the parameters and their optimizer state (see zero_state.ts); rank 0 adds the rest. */
  stateDict(optimizer: Optimizer<any>): StrategyState {
    this.bind(optimizer);
    return shardState(this.module, this.shard, optimizer, `zero-${this.stage}`, this.group.rank === 0);
  }

  /** Loads this rank's slices from a checkpoint of any layout and world size (every rank calls it). */
  loadStateDict(reader: StateReader, optimizer: Optimizer<any>): void {
    this.gatherer?.settle();
    this.bind(optimizer);
    loadShardState(reader, this.module, this.shard, optimizer);
    if (this.stage < 3) this.gatherParameters();
  }

  /** Stops sharding gradients (removes the autograd hooks and, at stage 3, the forward wrappers). */
  dispose(): void {
    for (const remove of this.removeHooks) remove();
    this.gatherer?.dispose();
  }

  /**
   * Points the optimizer at this rank's slices, once, and tells it how to reach the whole
   * parameters (LAMB's norms, Muon's matrices: ZeroParameterShards).
   */
  private bind(optimizer: Optimizer<any>): void {
    if (this.bound.has(optimizer)) return;
    this.shard.bind(optimizer);
    optimizer.shardWith(new ZeroParameterShards(this.shard, optimizer, this.group));
    this.bound.add(optimizer);
  }

  /** All-gathers every unit's updated chunks and copies them into the parameters. */
  private gatherParameters(): void {
    allGatherUnits(this.units, this.shard.masters, this.group);
  }

  private gradReady(leaf: Tensor): void {
    const at = this.syncing ? this.where.get(leaf) : undefined;
    if (!at) return;
    if (this.ready.has(leaf)) {
      throw new Error(
        `ZeroDataParallel: a parameter of shape [${leaf.shape.join(", ")}] got more gradient after its unit was ` +
          "reduced: it is used both inside and outside an activation checkpoint (or in two); use it on one side only",
      );
    }
    if (this.ready.size === 0) {
      const pass = currentBackward();
      if (!pass) throw new Error("ZeroDataParallel: a gradient became ready outside backward");
      pass.onNodeDone(() => this.progress());
      pass.onEnd(() => this.backwardEnd());
    }
    this.ready.add(leaf);
    const unit = this.units[at.unit]!;
    const flat = this.flatGradsOf(at.unit);
    const into = flat.toHost().subarray(unit.offsets[at.index]!, unit.offsets[at.index]! + leaf.size);
    // The full gradient moves into the flat buffer and is freed: a rank keeps only its chunk.
    if (leaf.grad && !leaf.grad.disposed) {
      into.set(leaf.grad.toHost());
      leaf.grad.dispose();
    } else into.fill(0);
    leaf.grad = null;
    this.pending[at.unit]!--;
    if (this.stage >= 2) this.launchReady();
  }

  private flatGradsOf(u: number): Tensor {
    const existing = this.flatGrads[u];
    if (existing) return existing;
    const unit = this.units[u]!,
      total = unit.chunk * this.group.size;
    // Stage 1 keeps its buffers from step to step: in the backend's communication memory where
    // it has one (read by peers in place, as DDP's buckets); stage 2 and 3 free theirs each step.
    const flat = (this.stage === 1 ? this.group.communicationBuffer?.([total], "float32") : undefined) ?? Tensor.empty([total], "float32", "gradient");
    flat.category = "gradient";
    flat.kept = true;
    flat.toHost().fill(0, unit.elements); // the padding
    this.flatGrads[u] = flat;
    return flat;
  }

  /** Issues the reduce-scatter of every complete unit, in unit order (the same on every rank). */
  private launchReady(): void {
    while (this.nextLaunch < this.units.length && this.pending[this.nextLaunch] === 0) {
      const u = this.nextLaunch++;
      let out = this.shard.gradChunks[u]!;
      if (this.shard.holdsGradients(u)) {
        out = Tensor.empty([this.units[u]!.chunk], "float32", "gradient");
        out.kept = true;
        this.received[u] = out;
      }
      this.works[u] = this.group.reduceScatter(out, this.flatGrads[u]!, "mean", { async: true });
    }
  }

  /** Tests the reduce-scatters in flight between backward's nodes (see DDP's progress). */
  private progress(): void {
    while (this.nextToFinish < this.nextLaunch && this.works[this.nextToFinish]!.isCompleted()) this.nextToFinish++;
  }

  private backwardEnd(): void {
    try {
      for (const p of this.where.keys()) if (!this.ready.has(p)) this.gradReady(p);
      this.launchReady();
      this.units.forEach((_, u) => {
        this.works[u]!.wait();
        const received = this.received[u];
        if (received) {
          addInPlace(this.shard.gradChunks[u]!, received);
          received.kept = false;
          received.dispose();
        }
        this.shard.receiveGradients(u);
        if (this.stage >= 2) this.freeFlatGrads(u);
      });
    } finally {
      this.ready.clear();
      this.nextLaunch = 0;
      this.nextToFinish = 0;
      this.units.forEach((unit, u) => {
        this.pending[u] = unit.params.length;
        this.works[u] = null;
        this.received[u] = null;
      });
    }
  }

  private freeFlatGrads(u: number): void {
    const flat = this.flatGrads[u];
    if (!flat) return;
    flat.kept = false;
    flat.dispose();
    this.flatGrads[u] = null;
  }
}

/** A slice's initial values: drawn from its recipe for a meta parameter, else read from the parameter. */
function initialValues(s: ParamSlice, into: Tensor): void {
  if (!s.param.isMeta) {
    into.toHost().set(s.param.toHost().subarray(s.paramStart, s.paramStart + s.length));
    return;
  }
  const values = materializeShard(s.param, { start: s.paramStart, end: s.paramStart + s.length });
  into.toHost().set(values.toHost());
  values.dispose();
}
