import type { LoaderState } from "../data/dataloader.js";
import type { GradScalerState } from "../optim/grad_scaler.js";
import type { PrunerState } from "../prune/pruner.js";
import type { Strategy } from "../parallel/strategy.js";
import { defaultGenerator } from "../tensor/random.js";
import { assertSameModel, type CheckpointContent, type LoadedCheckpoint } from "./checkpoint.js";
import type { TrainerOptions } from "./trainer_options.js";

/** Where a Trainer is in its run: optimizer steps and complete epochs done. */
export interface TrainPosition {
  step: number;
  epoch: number;
}

/**
 * Everything a checkpoint holds to resume a Trainer's run exactly (this rank's part of it):
 * the strategy's model and optimizer state, and in meta the position, the schedule, the loss
 * scale, the random generator, the loader's place, the pruner's masks and the options' meta.
 * @example saveCheckpoint(dir, trainerCheckpoint(trainer.options, trainer.strategy, trainer));
 */
export function trainerCheckpoint(options: TrainerOptions, strategy: Strategy, at: TrainPosition): CheckpointContent {
  return {
    state: strategy.stateDict(options.optimizer),
    meta: {
      step: at.step,
      epoch: at.epoch,
      scheduler: options.scheduler?.stateDict(),
      gradScaler: options.gradScaler?.stateDict(),
      rng: defaultGenerator().getState(),
      data: options.train.state(),
      ...(options.pruner ? { prune: options.pruner.stateDict() } : {}),
      ...options.meta,
    },
  };
}

/**
 * Restores what trainerCheckpoint saved into a Trainer's parts (after checking the checkpoint is
 * of the same model) and returns the position to continue from.
 * @example const { step, epoch } = restoreTrainer(trainer.options, trainer.strategy, checkpoint);
 */
export function restoreTrainer(options: TrainerOptions, strategy: Strategy, checkpoint: LoadedCheckpoint): TrainPosition {
  const { model, optimizer, scheduler, gradScaler, train, pruner } = options;
  assertSameModel(checkpoint, strategy.checkpointShapes?.() ?? model.stateDict(), options.meta?.config);
  strategy.loadStateDict(checkpoint.reader, optimizer);
  const meta = checkpoint.meta;
  if (scheduler && meta.scheduler) scheduler.loadStateDict(meta.scheduler as { step: number });
  if (gradScaler && meta.gradScaler) gradScaler.loadStateDict(meta.gradScaler as GradScalerState);
  if (meta.rng) defaultGenerator().setState(meta.rng as never);
  if (meta.data) train.loadState(meta.data as LoaderState);
  if (pruner && meta.prune) pruner.loadStateDict(meta.prune as PrunerState);
  return { step: meta.step, epoch: meta.epoch };
}
