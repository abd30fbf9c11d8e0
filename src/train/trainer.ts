import { withPrecision } from "../amp/autocast.js";
import { observeRegion } from "../autograd/observer.js";
import type { CompileStats } from "../compile/index.js";
import { mul } from "../ops/binary.js";
import { SingleProcess, type Strategy } from "../parallel/strategy.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { microBatchesOfStep, stepsPerEpoch } from "./accumulate.js";
import type { CompiledMicroBatches } from "./compiled_micro_batches.js";
import type { EvalInfo, StepInfo } from "./callbacks.js";
import type { CheckpointContent, LoadedCheckpoint } from "./checkpoint.js";
import type { Batch } from "./task.js";
import { TrainClock } from "./trainer_clock.js";
import { compiledStepOf, runCompiledStep } from "./trainer_compile.js";
import { type EvaluationResult, evaluateBatches } from "./trainer_evaluate.js";
import type { FitResult, TrainerOptions } from "./trainer_options.js";
import { restoreTrainer, trainerCheckpoint } from "./trainer_state.js";

export type { FitResult, TrainerOptions } from "./trainer_options.js";

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
  private readonly clock = new TrainClock();
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
    this.compiled = compiledStepOf(options, this.strategy, () => this.optimizerPart());
  }

  /** Compile counts and times under TrainerOptions.compile, else null. @example trainer.compileStats?.compilations */
  get compileStats(): CompileStats | null {
    return this.compiled?.stats ?? null;
  }

  /** Seconds of training so far (evaluation and checkpoints excluded). */
  get trainSeconds(): number {
    return this.clock.seconds;
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
    return this.clock.pause(fn);
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
    this.clock.start();
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
      this.clock.stop();
    }
    const evaluated = this.lastEval !== null && this.lastEval.step === this.step;
    if (this.options.eval && !evaluated && this.interruptReason === null) this.evaluateAndReport();
    for (const c of callbacks) c.onTrainEnd?.(this);
    return {
      steps: this.step,
      epochs: this.epoch,
      trainSeconds: this.clock.stoppedSeconds,
      throughput: this.processed / Math.max(this.clock.stoppedSeconds, 1e-9),
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
      const compiled = this.compiled;
      for (const value of observeRegion("replay", () => runCompiledStep(compiled, micro, nextBatch))) lossValue += this.finiteLoss(value) / micro;
    } else {
      for (let i = 0; i < micro; i++) lossValue += this.backwardMicroBatch(nextBatch(i), micro, i === micro - 1) / micro;
    }
    this.dataWait += dataWait;
    // Under compile the optimizer's part ran inside the compiled step.
    if (!this.compiled) this.optimizerPart();
    const gradNorm = this.stepGradNorm;
    this.step++;
    const trainSeconds = this.clock.seconds;
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
  evaluate(): EvaluationResult {
    const { model, task, precision = "float32" } = this.options;
    if (!this.options.eval) throw new Error("Trainer.evaluate: no evaluation data was given");
    return evaluateBatches(model, task, this.options.eval, precision, this.strategy);
  }

  private evaluateAndReport(): void {
    if (!this.options.eval) return;
    const result = this.pauseClock(() => this.evaluate());
    this.lastEval = { step: this.step, epoch: this.epoch, ...result };
    for (const c of this.options.callbacks ?? []) c.onEvalEnd?.(this.lastEval, this);
  }

  /** Everything a checkpoint holds to resume this run exactly (this rank's part of it). */
  checkpointContent(): CheckpointContent {
    return trainerCheckpoint(this.options, this.strategy, this);
  }

  /** Restores model, optimizer, schedule, random and data positions from a checkpoint. */
  restore(checkpoint: LoadedCheckpoint): void {
    ({ step: this.step, epoch: this.epoch } = restoreTrainer(this.options, this.strategy, checkpoint));
  }
}
