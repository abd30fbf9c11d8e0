import type { Module } from "../../nn/module.js";
import { clipGradNorm, gradNorm } from "../../optim/clip.js";
import type { GradScaler } from "../../optim/grad_scaler.js";
import type { Optimizer } from "../../optim/optimizer.js";
import { noGrad } from "../../autograd/grad_mode.js";
import { copyInto } from "../../ops/inplace.js";
import type { DType } from "../../tensor/dtype.js";
import { Tensor } from "../../tensor/tensor.js";
import { DistributedDataParallel } from "../ddp.js";
import type { ProcessGroup } from "../process_group.js";
import { shardedNorm } from "../sharded_norm.js";
import { type StateReader, type StateSection, type StrategyState, type TensorPiece, disposeState, elementCount } from "../state.js";
import { optimizerStep, type Strategy } from "../strategy.js";
import { type SplitParameter, splitsOf } from "./parallel_module.js";
import { assembleSplit, cutSplit } from "./split.js";

export interface TensorParallelStrategyOptions {
  /**
   * The data-parallel group of this rank (the ranks holding the same part of the model, one
   * per replica): gradients are averaged over it as DDP does. Default: none (one replica).
   */
  data?: ProcessGroup;
  /**
   * The model runs sequence parallel: its replicated parameters (LayerNorms, biases after a
   * row-parallel layer, positions) see only this rank's rows, so their gradients are summed
   * over the tensor group after backward.
   */
  sequenceParallel?: boolean;
}

/**
 * Training a model whose layers are split across a tensor-parallel group (Megatron style, e.g.
 * models.TensorParallelGPT), optionally replicated over a data-parallel group (d × t ranks).
 * Backward is plain backward (the split layers' collectives are in the graph), then, with
 * sequence parallelism, the replicated parameters' partial gradients are summed over the
 * tensor group, and with a data group every gradient is averaged over it. The gradient norm
 * counts each split parameter's parts once and each replicated parameter once. A checkpoint is
 * the full model's: every rank of the tensor group takes part in gathering it and rank 0
 * writes it, so it reloads on any tensor size, or in one process.
 *
 * @example
 * const model = new models.TensorParallelGPT(nn.deferInit(() => new models.GPT(cfg)), tp);
 * const strategy = new parallel.TensorParallel(model, tp);
 * strategy.backward(model.loss(x, y));
 * strategy.step(optimizer);
 */
export class TensorParallel implements Strategy {
  private readonly splits: Map<Tensor, SplitParameter>;
  private readonly replicated: Tensor[];
  private readonly ddp: DistributedDataParallel | null;

  constructor(
    readonly module: Module,
    readonly group: ProcessGroup,
    private readonly options: TensorParallelStrategyOptions = {},
  ) {
    this.splits = splitsOf(module);
    this.replicated = module.parameters().filter((p) => !this.splits.has(p));
    const data = options.data;
    // DDP over the data group: every rank there holds the same part, so its buckets line up.
    this.ddp = data && data.size > 1 ? new DistributedDataParallel(module, data) : null;
  }

  backward(loss: Tensor, options: { sync?: boolean } = {}): void {
    const sync = options.sync ?? true;
    if (this.ddp) this.ddp.backward(loss, options);
    else loss.backward();
    if (sync && this.options.sequenceParallel) {
      for (const p of this.replicated) if (p.grad) this.group.allReduce(p.grad, "sum");
    }
  }

  /** Split parameters on every rank, replicated ones on tensor rank 0 only: each counted once. */
  private counted(): Tensor[] {
    return this.group.rank === 0 ? this.module.parameters() : [...this.splits.keys()];
  }

  gradNorm(normType: 2 | typeof Infinity = 2): number {
    return gradNorm(this.counted(), normType, shardedNorm(this.group));
  }

  clipGradNorm(maxNorm: number, normType: 2 | typeof Infinity = 2): number {
    const norm = this.gradNorm(normType);
    // Every rank scales all its gradients by the one factor of the whole model's norm (the
    // combine step yields the combined sum of squares for the 2-norm, the maximum otherwise).
    clipGradNorm(this.module.parameters(), maxNorm, normType, (_, op) => (op === "sum" ? norm * norm : norm));
    return norm;
  }

  unscale(gradScaler: GradScaler, optimizer: Optimizer<any>): void {
    // Each rank holds other gradients: the tensor group agrees on an inf/NaN any of them found.
    gradScaler.unscale(optimizer, (foundInf) => shardedNorm(this.group)(foundInf ? 1 : 0, "max") > 0);
  }

  step(optimizer: Optimizer<any>, gradScaler?: GradScaler | null): void {
    optimizerStep(optimizer, gradScaler);
  }

  /** The full tensor of a parameter's (or its optimizer state's) parts, on every rank of the group. */
  private full(local: Tensor, split: SplitParameter | undefined): Tensor {
    if (!split) return local;
    const gathered = Tensor.empty([this.group.size * local.size], local.dtype, local.category);
    this.group.allGather(gathered, local);
    const out = assembleSplit(gathered, split.split, split.shape, this.group.size);
    gathered.dispose();
    return out;
  }

  private local(full: Tensor, split: SplitParameter | undefined): Tensor {
    return split ? cutSplit(full, split.split, this.group.rank, this.group.size) : full;
  }

  /** The full tensor of a piece of state as a checkpoint piece (a gathered copy, or a view of a replicated tensor). */
  private piece(t: Tensor, split: SplitParameter | undefined): TensorPiece {
    const full = this.full(t, split);
    const piece = { shape: [...full.shape], start: 0, data: full.viewAs([full.size]) };
    if (full !== t) full.dispose();
    return piece;
  }

  /**
   * The full model's state (collective over the tensor group: every rank calls it, as the
   * checkpoint callback does): global rank 0 gives every tensor whole, the others nothing.
   */
  stateDict(optimizer: Optimizer<any>): StrategyState {
    const state: StrategyState = { model: {}, optimizer: {}, steps: {}, paramGroups: [], layout: `tensor-${this.group.size}` };
    const writes = this.group.rank === 0 && (this.options.data?.rank ?? 0) === 0;
    const names = new Map(this.module.namedParameters().map(([name, p]) => [p, name]));
    for (const [name, p] of this.module.namedParameters()) state.model[name] = this.piece(p, this.splits.get(p));
    for (const [name, b] of this.module.namedBuffers()) state.model[name] = this.piece(b, undefined);
    for (const group of optimizer.paramGroups) {
      const { params, ...hyper } = group;
      state.paramGroups.push({ ...hyper, params: (params as Tensor[]).map((p) => names.get(p)!) });
      for (const p of params as Tensor[]) {
        const s = optimizer.paramState(p);
        if (!s) continue;
        state.steps[names.get(p)!] = s.step;
        for (const [key, t] of Object.entries(s.tensors)) state.optimizer[`${names.get(p)}.${key}`] = this.piece(t, this.splits.get(p));
      }
    }
    if (writes) return state;
    disposeState(state);
    return { model: {}, optimizer: {}, steps: {}, paramGroups: [], layout: state.layout };
  }

  /** This rank's parts of a full tensor of the checkpoint (any layout wrote it). */
  private read(reader: StateReader, section: StateSection, name: string, local: Tensor, split: SplitParameter | undefined): Tensor {
    const info = reader.tensors[section].get(name);
    if (!info) throw new Error(`TensorParallel: the checkpoint has no ${section} tensor '${name}'`);
    const flat = reader.read(section, name, 0, elementCount(info.shape));
    const full = flat.viewAs(info.shape);
    flat.dispose();
    const mine = this.local(full, split);
    if (mine !== full) full.dispose();
    return mine.viewAs(local.shape);
  }

  checkpointShapes(): Record<string, { dtype: DType; shape: readonly number[] }> {
    const shapes: Record<string, { dtype: DType; shape: readonly number[] }> = {};
    for (const [name, t] of [...this.module.namedParameters(), ...this.module.namedBuffers()])
      shapes[name] = { dtype: t.dtype, shape: this.splits.get(t)?.shape ?? t.shape };
    return shapes;
  }

  loadStateDict(reader: StateReader, optimizer: Optimizer<any>): void {
    noGrad(() => {
      for (const [name, t] of [...this.module.namedParameters(), ...this.module.namedBuffers()]) {
        const mine = this.read(reader, "model", name, t, this.splits.get(t));
        copyInto(t, mine);
        mine.dispose();
      }
    });
    if (reader.paramGroups.length === 0) return;
    optimizer.loadHyperparameters(reader.paramGroups);
    optimizer.clearState();
    for (const [name, p] of this.module.namedParameters()) {
      const step = reader.steps[name];
      if (step === undefined) continue;
      const tensors: Record<string, Tensor> = {};
      for (const key of reader.tensors.optimizer.keys()) {
        if (key.startsWith(`${name}.`) && !key.slice(name.length + 1).includes("."))
          tensors[key.slice(name.length + 1)] = this.read(reader, "optimizer", key, p, this.splits.get(p));
      }
      optimizer.setParamState(p, { step, tensors }, `'${name}'`);
      for (const t of Object.values(tensors)) t.dispose();
    }
  }

  dispose(): void {
    this.ddp?.dispose();
  }
}
