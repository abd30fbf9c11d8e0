import { materialize } from "../nn/deferred.js";
import type { Module } from "../nn/module.js";
import { clipGradNorm, gradNorm } from "../optim/clip.js";
import type { GradScaler } from "../optim/grad_scaler.js";
import type { Optimizer, OptimizerStateDict } from "../optim/optimizer.js";
import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";

/** The part of a checkpoint one rank writes or reads: model tensors by name, optimizer state. */
export interface StrategyState {
  model: Record<string, Tensor>;
  optimizer?: OptimizerStateDict;
}

/**
 * What differs between ways of training in parallel, behind one interface, so the training loop
 * runs any of them without knowing which: one process, data parallel (DDP), and later sharded
 * data parallel (ZeRO), tensor and pipeline parallel. A strategy is made for one rank's model
 * (it may broadcast, shard or wrap it, and attaches its backward hooks to the parameters); the
 * loop then asks it to run backward, measure the gradient norm, step the optimizer and give
 * this rank's part of a checkpoint.
 *
 * @example
 * const strategy: Strategy = group ? new DistributedDataParallel(model, group) : new SingleProcess(model);
 * strategy.backward(loss, { sync: lastMicroBatch });
 * strategy.clipGradNorm(1.0);
 * strategy.step(optimizer);
 */
export interface Strategy {
  /** The module this rank runs forward on. */
  readonly module: Module;
  /**
   * Backward from `loss` (the micro-batch's share of the step's loss). With `sync: false` the
   * gradients only accumulate on this rank (no communication): all but the last micro-batch of
   * an accumulated step. Default true.
   */
  backward(loss: Tensor, options?: { sync?: boolean }): void;
  /** The norm of the whole model's gradients (across ranks where gradients are sharded). */
  gradNorm(normType?: 2 | typeof Infinity): number;
  /** Scales the gradients so the whole model's norm is at most maxNorm; returns the norm before. */
  clipGradNorm(maxNorm: number, normType?: 2 | typeof Infinity): number;
  /**
   * Divides the gradients this rank holds by the loss scale and finds inf/NaN (the scaler's
   * unscale, before clipping); where gradients are sharded, the ranks agree on the finding.
   */
  unscale(gradScaler: GradScaler, optimizer: Optimizer<any>): void;
  /** One optimizer step on what this rank updates (skipped by the scaler on inf/NaN gradients). */
  step(optimizer: Optimizer<any>, gradScaler?: GradScaler | null): void;
  /** The tensors and optimizer state this rank writes to a checkpoint; null when it writes none. */
  stateDict(optimizer: Optimizer<any>): StrategyState | null;
  /** Loads a checkpoint's state into this rank's model and optimizer. */
  loadStateDict(state: StrategyState, optimizer: Optimizer<any>): void;
  /**
   * Optional: the dtype and shape of each tensor of the full model's checkpoint, where this rank
   * holds only parts of them (default: the module's own state dict).
   */
  checkpointShapes?(): Record<string, { dtype: DType; shape: readonly number[] }>;
  /** Detaches the strategy's hooks from the model. */
  dispose(): void;
}

/**
 * The optimizer's own step on this rank's parameters, through the grad scaler when there is one
 * (it skips the step on inf/NaN gradients and updates the scale).
 * @example stepOptimizer(optimizer, gradScaler);
 */
export function stepOptimizer(optimizer: Optimizer<any>, gradScaler?: GradScaler | null): void {
  if (!gradScaler) {
    optimizer.step();
    return;
  }
  gradScaler.step(optimizer);
  gradScaler.update();
}

/**
 * The common part of strategies in which every rank holds the whole model and, after backward,
 * the whole (identical) gradients: one process and DDP. The gradient norm is local, the step is
 * the optimizer's own, and the checkpoint is the full state written by the rank that `writes`.
 * A module built under `nn.deferInit` is materialised whole here (eager init's values).
 * (Strategies with sharded gradients pass clipGradNorm a `shardedNorm(group)` instead.)
 */
export abstract class ReplicatedStrategy implements Strategy {
  protected constructor(readonly module: Module) {
    materialize(module);
  }

  abstract backward(loss: Tensor, options?: { sync?: boolean }): void;

  /** Whether this rank writes the checkpoint (all ranks hold the same state; one writes it). */
  protected abstract get writes(): boolean;

  gradNorm(normType: 2 | typeof Infinity = 2): number {
    return gradNorm(this.module.parameters(), normType);
  }

  clipGradNorm(maxNorm: number, normType: 2 | typeof Infinity = 2): number {
    return clipGradNorm(this.module.parameters(), maxNorm, normType);
  }

  unscale(gradScaler: GradScaler, optimizer: Optimizer<any>): void {
    gradScaler.unscale(optimizer);
  }

  step(optimizer: Optimizer<any>, gradScaler?: GradScaler | null): void {
    stepOptimizer(optimizer, gradScaler);
  }

  stateDict(optimizer: Optimizer<any>): StrategyState | null {
    return this.writes ? { model: this.module.stateDict(), optimizer: optimizer.stateDict() } : null;
  }

  loadStateDict(state: StrategyState, optimizer: Optimizer<any>): void {
    this.module.loadStateDict(state.model);
    if (state.optimizer) optimizer.loadStateDict(state.optimizer);
  }

  dispose(): void {}
}

/**
 * Training in one process: backward is plain backward, everything else is local.
 * @example
 * const strategy = new SingleProcess(model);
 * strategy.backward(loss);
 * strategy.step(optimizer);
 */
export class SingleProcess extends ReplicatedStrategy {
  constructor(module: Module) {
    super(module);
  }

  backward(loss: Tensor): void {
    loss.backward();
  }

  protected get writes(): boolean {
    return true;
  }
}
