import { withPrecision, type Precision } from "../amp/autocast.js";
import { type CompiledStep, compile, type CompileStats } from "../compile/index.js";
import type { Capture } from "../compile/capture.js";
import type { Module } from "../nn/module.js";
import { mul } from "../ops/binary.js";
import type { GradScaler } from "../optim/grad_scaler.js";
import type { Optimizer } from "../optim/optimizer.js";
import { DistributedDataParallel } from "../parallel/ddp.js";
import { SingleProcess, type Strategy } from "../parallel/strategy.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { ConfigError } from "./config_file.js";
import type { Batch, Task } from "./task.js";

/** What the compiled micro-batches of a Trainer's step need from it. */
export interface CompiledMicroBatchesOptions {
  model: Module;
  task: Task;
  optimizer: Optimizer<any>;
  strategy: Strategy;
  precision: Precision;
  gradScaler: GradScaler | null;
  /**
   * The host's part at the end of the step (unscaling, clipping, the optimizer's step,
   * zeroGrad), run inside the compiled step after the last backward.
   */
  optimizerPart: () => void;
  /** Most batch shapes compiled (train.compileCacheSize). */
  cacheSize?: number;
  log?: (line: string) => void;
}

/**
 * A Trainer's whole step (its k micro-batches and the optimizer) compiled with src/compile: each
 * micro-batch's loss weighted 1/k and multiplied by the loss scale (a dynamic scalar, so a
 * replay uses the scale of its own step), backward under DDP's noSync for all but the last,
 * then the optimizer's part (unscaling, clipping, the step, zeroGrad) as the compiled step's
 * host part, run from TypeScript on the replay's gradients. Only one process and DDP: other
 * strategies run forward or communicate outside backward's hooks.
 *
 * @example
 * const micro = new CompiledMicroBatches({ model, task, optimizer, strategy, precision: "float32", gradScaler: null, optimizerPart: () => { optimizer.step(); optimizer.zeroGrad(); } });
 * const losses = micro.run([batch]);
 */
export class CompiledMicroBatches {
  private readonly step: CompiledStep;
  private readonly gradScaler: GradScaler | null;

  constructor(options: CompiledMicroBatchesOptions) {
    const { model, task, strategy, precision, gradScaler, optimizerPart } = options;
    if (!(strategy instanceof SingleProcess || strategy instanceof DistributedDataParallel)) {
      throw new ConfigError(
        `train.compile: the ${strategy.constructor.name} strategy cannot be compiled (one process and DDP can); set train.compile to false`,
      );
    }
    const params = options.optimizer.paramGroups.flatMap((g) => g.params as Tensor[]);
    this.step = compile(
      (inputs, scalars, capture) => {
        const micro = inputs.length / 2;
        const losses: Tensor[] = [];
        for (let i = 0; i < micro; i++) {
          const sync = i === micro - 1;
          losses.push(
            tidy(() => {
              const loss = withPrecision(precision, () => task.loss(model, { x: inputs[2 * i]!, y: inputs[2 * i + 1]! }));
              const share = micro > 1 ? mul(loss, 1 / micro) : loss;
              const scaled = gradScaler ? mul(share, scalars[0]!) : share;
              backwardIn(capture, strategy, sync, scaled);
              return loss;
            }),
          );
        }
        capture.host("optimizer", params, optimizerPart);
        return losses;
      },
      {
        parameters: params,
        scalars: gradScaler ? 1 : 0,
        ...(options.cacheSize ? { cacheSize: options.cacheSize } : {}),
        ...(options.log ? { log: options.log } : {}),
      },
    );
    this.gradScaler = gradScaler;
  }

  /** Compile counts and times. @example micro.stats.compilations */
  get stats(): CompileStats {
    return this.step.stats;
  }

  /** The step on its batches (not disposed here): forward, backward, the optimizer's part; returns each micro-batch's unweighted loss. */
  run(batches: readonly Batch[]): number[] {
    return this.step.run(
      batches.flatMap((b) => [b.x, b.y]),
      this.gradScaler ? [this.gradScaler.getScale()] : [],
    );
  }

  /** Gives back the compiled programs' memory. @example micro.dispose() */
  dispose(): void {
    this.step.dispose();
  }
}

/** Backward from `loss`, gradients synced only on the step's last micro-batch (DDP's noSync before). */
function backwardIn(capture: Capture, strategy: Strategy, sync: boolean, loss: Tensor): void {
  if (!sync && strategy instanceof DistributedDataParallel)
    capture.within(
      "noSync",
      (run) => strategy.noSync(run),
      () => loss.backward(),
    );
  else loss.backward();
}
