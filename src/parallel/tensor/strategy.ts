import { materialize } from "../../nn/deferred.js";
import type { Module } from "../../nn/module.js";
import { clipGradNorm, gradNorm } from "../../optim/clip.js";
import type { GradScaler } from "../../optim/grad_scaler.js";
import type { Optimizer } from "../../optim/optimizer.js";
import type { DType } from "../../tensor/dtype.js";
import type { Tensor } from "../../tensor/tensor.js";
import { DistributedDataParallel } from "../ddp.js";
import type { ProcessGroup } from "../process_group.js";
import { shardedNorm } from "../sharded_norm.js";
import type { StateReader, StrategyState } from "../state.js";
import { optimizerStep, type Strategy } from "../strategy.js";
import { type SplitParameter, splitsOf } from "./parallel_module.js";
import { fullShapes, gatheredState, loadPartState } from "./split_state.js";

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
    materialize(module);
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

  /**
   * The full model's state (collective over the tensor group: every rank calls it, as the
   * checkpoint callback does): global rank 0 gives every tensor whole, the others nothing.
   */
  stateDict(optimizer: Optimizer<any>): StrategyState {
    const writes = this.group.rank === 0 && (this.options.data?.rank ?? 0) === 0;
    return gatheredState(this.module, optimizer, this.group, this.splits, { layout: `tensor-${this.group.size}`, writes });
  }

  checkpointShapes(): Record<string, { dtype: DType; shape: readonly number[] }> {
    return fullShapes(this.module, this.splits);
  }

  /** This rank's parts of every tensor of a checkpoint of any layout. */
  loadStateDict(reader: StateReader, optimizer: Optimizer<any>): void {
    loadPartState(reader, this.module, optimizer, this.splits, this.group);
  }

  dispose(): void {
    this.ddp?.dispose();
  }
}
