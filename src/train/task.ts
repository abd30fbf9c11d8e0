import { add } from "../ops/binary.js";
import { crossEntropy } from "../ops/loss.js";
import { moeAuxLoss } from "../nn/moe.js";
import type { Module } from "../nn/module.js";
import { hasOwnLoss } from "../nn/own_loss.js";
import type { Tensor } from "../tensor/tensor.js";

/** A batch of inputs and targets, as the data loaders yield them. */
export interface Batch {
  x: Tensor;
  y: Tensor;
}

/** What one evaluation batch contributes: its mean loss, its size and, for classifiers, hits. */
export interface EvalCounts {
  loss: number;
  count: number;
  correct?: number;
}

/**
 * What the Trainer trains for: the loss of a batch, what evaluation measures, and what
 * throughput counts (samples, or tokens for language models).
 */
export interface Task {
  readonly unit: "samples" | "tokens";
  loss(model: Module, batch: Batch): Tensor;
  evaluate(model: Module, batch: Batch): EvalCounts;
  /** Samples or tokens in a batch. */
  size(batch: Batch): number;
}

/** Index of the largest value of each row of [N, C] logits. */
export function argmaxRows(logits: Tensor): Int32Array {
  const classes = logits.shape[logits.ndim - 1]!;
  const values = logits.dtype === "float32" ? (logits.data as Float32Array) : Float32Array.from(logits.toArray());
  const rows = values.length / classes;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (values[r * classes + c]! > values[r * classes + best]!) best = c;
    out[r] = best;
  }
  return out;
}

/**
 * Classification: cross-entropy of logits [N, C] against int32 labels [N]; evaluation also
 * counts correct top-1 predictions.
 * @example new Trainer({ model, optimizer, task: classification(), train: loader })
 */
export function classification(options: { labelSmoothing?: number } = {}): Task {
  return {
    unit: "samples",
    loss: (model, batch) => crossEntropy(model.forward(batch.x), batch.y, { labelSmoothing: options.labelSmoothing ?? 0 }),
    evaluate(model, batch) {
      const logits = model.forward(batch.x);
      const loss = crossEntropy(logits, batch.y);
      const predicted = argmaxRows(logits);
      const labels = batch.y.data as Int32Array;
      let correct = 0;
      for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) correct++;
      return { loss: loss.item(), count: predicted.length, correct };
    },
    size: (batch) => batch.y.size,
  };
}

/** A model (or pipeline stage) with its own loss computes it: a tensor-parallel one never gathers the full logits. */
function languageModelLoss(model: Module, batch: Batch): Tensor {
  return hasOwnLoss(model) ? model.loss(batch.x, batch.y) : crossEntropy(model.forward(batch.x), batch.y);
}

/**
 * Language modelling: cross-entropy of next-token logits [B, T, V] against int32 targets
 * [B, T]; throughput and evaluation count tokens.
 * @example new Trainer({ model: gpt, optimizer, task: languageModel(), train: loader })
 */
export function languageModel(): Task {
  return {
    unit: "tokens",
    // Training adds the mixture-of-experts layers' load-balancing loss; evaluation reports the cross-entropy alone.
    loss: (model, batch) => {
      const loss = languageModelLoss(model, batch),
        aux = moeAuxLoss(model);
      return aux ? add(loss, aux) : loss;
    },
    evaluate(model, batch) {
      const loss = languageModelLoss(model, batch);
      return { loss: loss.item(), count: batch.y.size };
    },
    size: (batch) => batch.y.size,
  };
}
