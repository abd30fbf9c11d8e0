import { withPrecision, type Precision } from "../amp/autocast.js";
import { noGrad } from "../autograd/grad_mode.js";
import type { Module } from "../nn/module.js";
import type { Strategy } from "../parallel/strategy.js";
import { tidy } from "../tensor/scope.js";
import type { Batch, Task } from "./task.js";

/** The mean loss, and the accuracy of a classifier, over evaluation batches. */
export interface EvaluationResult {
  loss: number;
  accuracy?: number;
}

/**
 * Evaluates `model` on every batch of `batches` in eval mode, without gradients, under the
 * autocast `precision`: the mean loss per sample, and the accuracy when the task counts correct
 * answers. A strategy that evaluates itself (a pipeline) runs each batch; each batch is disposed
 * after it, and the model goes back to train mode.
 * @example const { loss, accuracy } = evaluateBatches(model, classification(), testLoader, "float32", new SingleProcess(model));
 */
export function evaluateBatches(model: Module, task: Task, batches: Iterable<Batch>, precision: Precision, strategy: Strategy): EvaluationResult {
  model.eval();
  let lossSum = 0,
    count = 0,
    correct = 0,
    classifier = false;
  try {
    noGrad(() => {
      for (const batch of batches) {
        const counts = tidy(() =>
          withPrecision(precision, () =>
            strategy.evaluateBatch ? strategy.evaluateBatch(batch.x, batch.y, (m, x, y) => task.evaluate(m, { x, y })) : task.evaluate(model, batch),
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
