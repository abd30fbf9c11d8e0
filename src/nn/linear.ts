import { linearGelu } from "../ops/linear_gelu.js";
import { linear, type LinearCallOptions } from "../ops/matmul.js";
import { zeros } from "../tensor/create.js";
import type { Generator } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import { initWeightAndBias, type WeightInit } from "./init.js";
import { Module } from "./module.js";

export interface LinearOptions {
  bias?: boolean;
  /** The row count changes every call (a mixture-of-experts expert): see linear()'s `varyingRows`. */
  varyingRows?: boolean;
  init?: WeightInit;
  generator?: Generator;
}

/**
 * y = x·Wᵀ + b over the last axis, weight [out, in] as PyTorch's (so state dicts interchange).
 * `forward(x, "gelu")` is GELU(x·Wᵀ + b) as one fused op (linearGelu), for a Linear followed
 * by a GELU: its parameters stay this module's, so ZeRO-3 gathers them as for forward(x).
 * @example new Linear(784, 1024)
 * @example fc.forward(h, "gelu")   // the MLP's first layer and its activation
 * @example new Linear(64, 256, { varyingRows: true })   // an expert's layer
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  private readonly call: LinearCallOptions;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    this.weight = this.addParameter("weight", zeros([outFeatures, inFeatures]));
    this.bias = this.addParameter("bias", options.bias === false ? null : zeros([outFeatures]));
    initWeightAndBias(this.weight, this.bias, options.init ?? "default", options.generator);
    this.call = { varyingRows: options.varyingRows };
  }

  forward(x: Tensor, activation?: "gelu"): Tensor {
    return activation === "gelu" ? linearGelu(x, this.weight, this.bias, this.call) : linear(x, this.weight, this.bias, this.call);
  }
}
