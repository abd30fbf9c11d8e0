import { performance } from "node:perf_hooks";

import { withPrecision, type Precision } from "../amp/autocast.js";
import { noGrad } from "../autograd/grad_mode.js";
import { observeRegion } from "../autograd/observer.js";
import type { DataLoader, LoaderState } from "../data/dataloader.js";
import type { Pruner, PrunerState } from "../prune/pruner.js";
import type { Module } from "../nn/module.js";
import { mul } from "../ops/binary.js";
import type { GradScaler, GradScalerState } from "../optim/grad_scaler.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { LRScheduler } from "../optim/schedule.js";
import { SingleProcess, type Strategy } from "../parallel/strategy.js";
import { defaultGenerator } from "../tensor/random.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import type { CompileStats } from "../compile/index.js";
import { microBatchesOfStep, stepsPerEpoch } from "./accumulate.js";
import { CompiledMicroBatches } from "./compiled_micro_batches.js";
import type { Callback, EvalInfo, StepInfo } from "./callbacks.js";
import { assertSameModel, type CheckpointContent, type LoadedCheckpoint } from "./checkpoint.js";
import type { Batch, Task } from "./task.js";

export interface TrainerOptions {
  model: Module;
  optimizer: Optimizer<any>;
  scheduler?: LRScheduler;
  task: Task;
  train: DataLoader<any, Batch>;
  eval?: Iterable<Batch>;
  /** Micro-batches per optimizer step (gradient accumulation, default 1); see accumulate.ts. */
  accumulate?: number;
  /** Clip the global gradient norm to this before each step. */
  clipGradNorm?: number | null;
  /** Evaluate every this many steps (default: at the end of every epoch). */
  evalEvery?: number | null;
  callbacks?: Callback[];
  /** Saved with every checkpoint (the config, a tokenizer...). */
  meta?: Record<string, unknown>;
  /**
   * Replaces each training batch just before its step, given the 0-based step it is for (a
   * sequence-length warm-up crops token windows); it owns the batch it is given.
   */
  prepareBatch?: (batch: Batch, step: number) => Batch;
  /** Autocast dtype of forward and loss, in training and evaluation (default float32: none). */
  precision?: Precision;
  /** Loss scaling (float16): the loss is scaled, gradients unscaled before clipping, inf/NaN steps skipped. */
  gradScaler?: GradScaler | null;
  /**
   * How this rank trains in parallel (default: SingleProcess on `model`): it runs backward
   * (with accumulation, all but the last micro-batch of a step without sync), clips by the whole
   * model's gradient norm, steps the optimizer and gives this rank's part of a checkpoint.
   */
  strategy?: Strategy;
  /**
   * Polled after every step (a signal flag, a deadline): a reason ends training there, without
   * the final evaluation; the callbacks' onTrainEnd still runs, so a checkpoint is written. Under
   * data parallelism every rank must get the same answer at the same step.
   */
  stopRequested?: () => string | null;
  /**
   * Compile each step's forward and backward (src/compile): recorded on the first two steps of
   * each batch shape, replayed after, with the optimizer, unscaling and clipping run as before.
   * One process and DDP only. Absent or null: eager.
   */
  compile?: { cacheSize?: number; log?: (line: string) => void } | null;
  /**
   * Masks weights during training (src/prune): pruned gradients are zeroed before clipping and
   * the step, masks updated and pruned weights zeroed after it; its masks go into checkpoints.
   */
  pruner?: Pruner | null;
}

export interface FitResult {
  steps: number;
  epochs: number;
  trainSeconds: number;
  throughput: number;
  unit: "samples" | "tokens";
  eval: { loss: number; accuracy?: number } | null;
  stopReason: string | null;
  /** Seconds the training thread waited for batches. */
  dataWaitSeconds: number;
  /** Optimizer steps the GradScaler skipped for inf/NaN gradients (0 without one). */
  skippedSteps: number;
  /** Why training was interrupted (TrainerOptions.stopRequested), or null. */
  interrupted: string | null;
  /** Compilations, replays and compile time under TrainerOptions.compile, else null. */
  compile: CompileStats | null;
}

/** A loss that is not a finite number: training stops with this error. */
export class NonFiniteLossError extends Error {}

/**
 * The training loop: forward, loss, backward, optional clipping, optimizer and scheduler
 * steps, in PyTorch's order, with evaluation, callbacks (checkpoints, early stopping,
 * metrics) and exact resume. With `accumulate: k` a step is k micro-batches from the loader,
 * each run forward and backward on its own (activation memory of one micro-batch), then one
 * optimizer step. Each micro-batch runs in a tidy scope, so memory is flat from step to step,
 * and each batch is disposed after its backward.
 *
 * @example
 * const trainer = new Trainer({ model, optimizer, task: classification(), train: loader, eval: testLoader });
 * const result = trainer.fit({ epochs: 3 });
 */
export class Trainer {
  step = 0;
  epoch = 0;
  private stopReason: string | null = null;
  private interruptReason: string | null = null;
  private clock = 0;
  private clockStart: number | null = null;
  private processed = 0;
  private dataWait = 0;
  private lastEval: EvalInfo | null = null;
  readonly strategy: Strategy;
  private readonly compiled: CompiledMicroBatches | null;
  private stepGradNorm: number | null = null;

  constructor(readonly options: TrainerOptions) {
    const k = options.accumulate ?? 1;
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`Trainer: accumulate must be a positive integer, got ${k}`);
    this.strategy = options.strategy ?? new SingleProcess(options.model);
    if (this.strategy.module !== options.model) throw new Error("Trainer: the strategy was made for another model than options.model");
    const { compile } = options;
    this.compiled = compile
      ? new CompiledMicroBatches({
          ...options,
          strategy: this.strategy,
          precision: options.precision ?? "float32",
          gradScaler: options.gradScaler ?? null,
          optimizerPart: () => this.optimizerPart(),
          ...compile,
        })
      : null;
  }

  /** Compile counts and times under TrainerOptions.compile, else null. @example trainer.compileStats?.compilations */
  get compileStats(): CompileStats | null {
    return this.compiled?.stats ?? null;
  }

  /** Seconds of training so far (evaluation and checkpoints excluded). */
  get trainSeconds(): number {
    return this.clock + (this.clockStart === null ? 0 : (performance.now() - this.clockStart) / 1000);
  }

  /** Samples (or tokens) trained on so far. */
  get processedUnits(): number {
    return this.processed;
  }

  /** Asks the loop to stop after the current step. */
  requestStop(reason: string): void {
    this.stopReason ??= reason;
  }

  /** Why the run was interrupted (TrainerOptions.stopRequested), or null. */
  get interrupted(): string | null {
    return this.interruptReason;
  }

  /** Runs fn with the training clock stopped (evaluation, checkpoints). */
  pauseClock<T>(fn: () => T): T {
    const running = this.clockStart !== null;
    if (running) this.stopClock();
    try {
      return fn();
    } finally {
      if (running) this.startClock();
    }
  }

  /** Trains until `steps` optimizer steps in all, or `epochs` complete epochs, or a stop request. */
  fit(until: { steps?: number; epochs?: number }): FitResult {
    const { train, callbacks = [], evalEvery } = this.options;
    if (train.length === 0) throw new RangeError("Trainer.fit: the training loader yields no batches");
    const accumulate = this.options.accumulate ?? 1;
    const totalSteps = until.steps ?? (until.epochs ?? 1) * stepsPerEpoch(train.length, accumulate);
    if (!(totalSteps >= 1)) throw new RangeError(`Trainer.fit: nothing to do (steps ${until.steps}, epochs ${until.epochs})`);
    this.options.model.train();
    for (const c of callbacks) c.onTrainStart?.(this);
    this.startClock();
    try {
      while (this.step < totalSteps && this.stopReason === null) {
        const iterator = train[Symbol.iterator]();
        for (;;) {
          const micro = microBatchesOfStep(train.state().batchIndex, train.length, accumulate);
          if (micro === 0) {
            iterator.next(); // the epoch is used up: this moves the loader on to the next one
            break;
          }
          const info = observeRegion("step", () => this.trainStep(iterator, micro));
          const position = train.state();
          const epochDone = position.batchIndex === train.length;
          if (epochDone) this.epoch = position.epoch + 1;
          for (const c of callbacks) c.onStepEnd?.(info, this);
          this.interruptReason = this.options.stopRequested?.() ?? null;
          if (this.interruptReason !== null) {
            this.requestStop(this.interruptReason);
            break;
          }
          if (evalEvery ? this.step % evalEvery === 0 : epochDone) this.evaluateAndReport();
          if (this.step >= totalSteps || this.stopReason !== null) break;
        }
      }
    } finally {
      this.stopClock();
    }
    const evaluated = this.lastEval !== null && this.lastEval.step === this.step;
    if (this.options.eval && !evaluated && this.interruptReason === null) this.evaluateAndReport();
    for (const c of callbacks) c.onTrainEnd?.(this);
    return {
      steps: this.step,
      epochs: this.epoch,
      trainSeconds: this.clock,
      throughput: this.processed / Math.max(this.clock, 1e-9),
      unit: this.options.task.unit,
      eval: this.lastEval && { loss: this.lastEval.loss, ...(this.lastEval.accuracy !== undefined ? { accuracy: this.lastEval.accuracy } : {}) },
      stopReason: this.stopReason,
      dataWaitSeconds: this.dataWait,
      skippedSteps: this.options.gradScaler?.skippedSteps ?? 0,
      interrupted: this.interruptReason,
      compile: this.compileStats,
    };
  }

  /**
   * The end of every step: the pruner's gradient mask, unscaling, clipping (its norm kept in
   * stepGradNorm), the optimizer's, the pruner's and the scheduler's steps, zeroGrad. Under compile it is the compiled step's host part.
   */
  private optimizerPart(): void {
    const { optimizer, scheduler, gradScaler, pruner } = this.options;
    this.stepGradNorm = observeRegion("optimizer", () => {
      pruner?.maskGradients();
      if (gradScaler) this.strategy.unscale(gradScaler, optimizer);
      const norm = this.options.clipGradNorm ? this.strategy.clipGradNorm(this.options.clipGradNorm) : null;
      this.strategy.step(optimizer, gradScaler);
      pruner?.afterStep(this.step + 1);
      scheduler?.step();
      optimizer.zeroGrad();
      return norm;
    });
  }

  private trainStep(iterator: Iterator<Batch>, micro: number): StepInfo {
    const { optimizer, task, prepareBatch } = this.options;
    const lr = optimizer.paramGroups[0]!.lr;
    let lossValue = 0,
      dataWait = 0;
    const nextBatch = (i: number): Batch => {
      const waitStart = performance.now();
      const next = observeRegion("data", () => iterator.next());
      dataWait += (performance.now() - waitStart) / 1000;
      if (next.done) throw new Error(`Trainer: the loader ended its epoch ${micro - i} batches before its length (${this.options.train.length}) said`);
      const batch = prepareBatch ? prepareBatch(next.value, this.step) : next.value;
      this.processed += task.size(batch);
      return batch;
    };
    if (this.compiled) {
      // The compiled step takes all of the step's micro-batches at once.
      const batches: Batch[] = [];
      try {
        for (let i = 0; i < micro; i++) batches.push(nextBatch(i));
        const compiled = this.compiled;
        for (const value of observeRegion("replay", () => compiled.run(batches))) lossValue += this.finiteLoss(value) / micro;
      } finally {
        for (const b of batches) {
          b.x.dispose();
          b.y.dispose();
        }
      }
    } else {
      for (let i = 0; i < micro; i++) lossValue += this.backwardMicroBatch(nextBatch(i), micro, i === micro - 1) / micro;
    }
    this.dataWait += dataWait;
    // Under compile the optimizer's part ran inside the compiled step.
    if (!this.compiled) this.optimizerPart();
    const gradNorm = this.stepGradNorm;
    this.step++;
    const trainSeconds = this.clock + (performance.now() - this.clockStart!) / 1000;
    return { step: this.step, epoch: this.epoch, loss: lossValue, lr, gradNorm, throughput: this.processed / trainSeconds, dataWait, trainSeconds };
  }

  /**
   * Forward and backward of one micro-batch, its loss weighted 1/micro; returns the unweighted
   * loss. Gradients sync across ranks only after the step's last micro-batch (`sync`).
   */
  private backwardMicroBatch(batch: Batch, micro: number, sync: boolean): number {
    const { model, task, precision = "float32", gradScaler } = this.options;
    const scaleLoss = (loss: Tensor): Tensor => {
      const share = micro > 1 ? mul(loss, 1 / micro) : loss;
      return gradScaler ? gradScaler.scale(share) : share;
    };
    try {
      return tidy(() => {
        if (this.strategy.runMicroBatch) {
          // The strategy runs forward and backward itself (a pipeline); the loss is known after.
          const value = this.strategy.runMicroBatch({
            x: batch.x,
            y: batch.y,
            loss: (module, x, y) => task.loss(module, { x, y }),
            scaleLoss,
            autocast: (fn) => withPrecision(precision, fn),
            sync,
          });
          return this.finiteLoss(value);
        }
        const loss = withPrecision(precision, () => task.loss(model, batch));
        const value = this.finiteLoss(loss.item());
        this.strategy.backward(scaleLoss(loss), { sync });
        return value;
      });
    } finally {
      batch.x.dispose();
      batch.y.dispose();
    }
  }

  private finiteLoss(value: number): number {
    if (Number.isFinite(value)) return value;
    throw new NonFiniteLossError(
      `loss is ${value} at step ${this.step + 1} (epoch ${this.epoch + 1}): lower the learning rate, enable gradient ` +
        "clipping (train.clipGradNorm) or check the data",
    );
  }

  /** Mean loss (and accuracy for classifiers) over the evaluation batches, in eval mode. */
  evaluate(): { loss: number; accuracy?: number } {
    const { model, task } = this.options;
    if (!this.options.eval) throw new Error("Trainer.evaluate: no evaluation data was given");
    model.eval();
    let lossSum = 0,
      count = 0,
      correct = 0,
      classifier = false;
    try {
      noGrad(() => {
        for (const batch of this.options.eval!) {
          const counts = tidy(() =>
            withPrecision(this.options.precision ?? "float32", () =>
              this.strategy.evaluateBatch
                ? this.strategy.evaluateBatch(batch.x, batch.y, (m, x, y) => task.evaluate(m, { x, y }))
                : task.evaluate(model, batch),
            ),
          );
          batch.x.dispose();
          batch.y.dispose();
          lossSum += counts.loss * counts.count;
          count += counts.count;
          if (counts.correct !== undefined) {
            classifier = true;
            correct += counts.correct;
          }
        }
      });
    } finally {
      model.train();
    }
    return classifier ? { loss: lossSum / count, accuracy: correct / count } : { loss: lossSum / count };
  }

  private evaluateAndReport(): void {
    if (!this.options.eval) return;
    const result = this.pauseClock(() => this.evaluate());
    this.lastEval = { step: this.step, epoch: this.epoch, ...result };
    for (const c of this.options.callbacks ?? []) c.onEvalEnd?.(this.lastEval, this);
  }

  /** Everything a checkpoint holds to resume this run exactly (this rank's part of it). */
  checkpointContent(): CheckpointContent {
    return {
      state: this.strategy.stateDict(this.options.optimizer),
      meta: {
        step: this.step,
        epoch: this.epoch,
        scheduler: this.options.scheduler?.stateDict(),
        gradScaler: this.options.gradScaler?.stateDict(),
        rng: defaultGenerator().getState(),
        data: this.options.train.state(),
        ...(this.options.pruner ? { prune: this.options.pruner.stateDict() } : {}),
        ...this.options.meta,
      },
    };
  }

  /** Restores model, optimizer, schedule, random and data positions from a checkpoint. */
  restore(checkpoint: LoadedCheckpoint): void {
    const { model, optimizer, scheduler, train } = this.options;
    assertSameModel(checkpoint, this.strategy.checkpointShapes?.() ?? model.stateDict(), this.options.meta?.config);
    this.strategy.loadStateDict(checkpoint.reader, optimizer);
    const meta = checkpoint.meta;
    if (scheduler && meta.scheduler) scheduler.loadStateDict(meta.scheduler as { step: number });
    if (this.options.gradScaler && meta.gradScaler) this.options.gradScaler.loadStateDict(meta.gradScaler as GradScalerState);
    if (meta.rng) defaultGenerator().setState(meta.rng as never);
    if (meta.data) train.loadState(meta.data as LoaderState);
    if (this.options.pruner && meta.prune) this.options.pruner.loadStateDict(meta.prune as PrunerState);
    this.step = meta.step;
    this.epoch = meta.epoch;
  }

  private startClock(): void {
    this.clockStart = performance.now();
  }

  private stopClock(): void {
    if (this.clockStart === null) return;
    this.clock += (performance.now() - this.clockStart) / 1000;
    this.clockStart = null;
  }
}
