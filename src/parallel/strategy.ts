import { materialize } from "../nn/deferred.js";
import type { Module } from "../nn/module.js";
import { clipGradNorm, gradNorm } from "../optim/clip.js";
import type { GradScaler } from "../optim/grad_scaler.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import { loadWholeState, wholeState } from "./replicated_state.js";
import type { StateReader, StrategyState } from "./state.js";

/** A loss of the module's output on input x against target y (the Trainer's task.loss). */
export type ModuleLoss = (module: Module, x: Tensor, y: Tensor) => Tensor;

/** One micro-batch for a strategy that runs forward itself (see Strategy.runMicroBatch). */
export interface MicroBatchRun {
  x: Tensor;
  y: Tensor;
  loss: ModuleLoss;
  /** Weights the loss before backward (accumulation's 1/k, the GradScaler's scale). */
  scaleLoss: (loss: Tensor) => Tensor;
  /** Runs a forward in the step's autocast scope (backward runs outside it). */
  autocast: <T>(fn: () => T) => T;
  /** False on all but the last micro-batch of an accumulated step. */
  sync: boolean;
}

/** What one evaluation batch contributes (the Trainer's EvalCounts). */
export interface BatchCounts {
  loss: number;
  count: number;
  correct?: number;
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
  /**
   * This rank's pieces of the model and optimizer state, for its part of a checkpoint (see
   * StrategyState; the pieces of all ranks together cover every tensor exactly once). A rank
   * with nothing to write gives a state without pieces.
   */
  stateDict(optimizer: Optimizer<any>): StrategyState;
  /**
   * Loads what this rank holds from a checkpoint of any layout and world size: the reader gives
   * any element range of any named tensor.
   */
  loadStateDict(reader: StateReader, optimizer: Optimizer<any>): void;
  /**
   * Optional: the dtype and shape of each tensor of the full model's checkpoint, where this rank
   * holds only parts of them (default: the module's own state dict).
   */
  checkpointShapes?(): Record<string, { dtype: DType; shape: readonly number[] }>;
  /** Detaches the strategy's hooks from the model. */
  dispose(): void;
  /**
   * Optional: the bytes this rank has sent to average gradients so far (data parallel, with or
   * without compression); the run's summary reports it per step as `comm_bytes`.
   */
  readonly commBytes?: number;
  /**
   * Optional, for strategies in which a rank holds only part of the model (a pipeline stage):
   * forward and backward of a whole micro-batch, run by the strategy; returns its unweighted
   * loss, the same on every rank. Without it the Trainer runs `loss` on `module` and calls backward.
   */
  runMicroBatch?(run: MicroBatchRun): number;
  /** Optional, with runMicroBatch: the evaluation counts of a batch, the same on every rank. */
  evaluateBatch?(x: Tensor, y: Tensor, evaluate: (module: Module, x: Tensor, y: Tensor) => BatchCounts): BatchCounts;
}

/**
 * The optimizer's step on this rank's parameters, through the scaler when there is one (which
 * skips it on inf/NaN gradients and updates the scale).
 * @example optimizerStep(optimizer, gradScaler);
 */
export function optimizerStep(optimizer: Optimizer<any>, gradScaler?: GradScaler | null): void {
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
 * the optimizer's own, and the checkpoint is the whole state, written by the rank that `writes`
 * (the other ranks' parts are empty); loading reads every tensor whole, whoever wrote it.
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

  /** The layout name a checkpoint's index records ("single", "ddp"). */
  protected abstract get layout(): string;

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
    optimizerStep(optimizer, gradScaler);
  }

  stateDict(optimizer: Optimizer<any>): StrategyState {
    return wholeState(this.module, optimizer, this.layout, this.writes);
  }

  loadStateDict(reader: StateReader, optimizer: Optimizer<any>): void {
    loadWholeState(reader, this.module, optimizer);
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

  protected get layout(): string {
    return "single";
  }
}
