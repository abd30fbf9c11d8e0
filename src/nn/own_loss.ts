import type { Tensor } from "../tensor/tensor.js";
import type { Module } from "./module.js";

/**
 * A module that computes its training loss itself from an input and the targets, instead of
 * its output going through a loss function: a tensor-parallel model's vocabulary-parallel
 * cross-entropy never gathers the full logits.
 */
export interface OwnLoss {
  loss(input: Tensor, targets: Tensor): Tensor;
}

/**
 * Whether `module` computes its own loss (has a `loss(input, targets)` method).
 * @example const l = hasOwnLoss(model) ? model.loss(x, y) : crossEntropy(model.forward(x), y);
 */
export function hasOwnLoss(module: Module): module is Module & OwnLoss {
  return typeof (module as Partial<OwnLoss>).loss === "function";
}
