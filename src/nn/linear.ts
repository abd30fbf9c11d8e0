import { linear } from "../ops/matmul.js";
import { zeros } from "../tensor/create.js";
import type { Generator } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import { initWeightAndBias, type WeightInit } from "./init.js";
import { Module } from "./module.js";

export interface LinearOptions {
  bias?: boolean;
  init?: WeightInit;
  generator?: Generator;
}

/**
 * y = x·Wᵀ + b over the last axis, weight [out, in] as PyTorch's (so state dicts interchange).
 * @example new Linear(784, 1024)
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    this.weight = this.addParameter("weight", zeros([outFeatures, inFeatures]));
    this.bias = this.addParameter("bias", options.bias === false ? null : zeros([outFeatures]));
    initWeightAndBias(this.weight, this.bias, options.init ?? "default", options.generator);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
