import { conv2d, type Conv2dOptions } from "../ops/conv.js";
import type { Pair } from "../ops/window.js";
import { zeros } from "../tensor/create.js";
import type { Generator } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import { initWeightAndBias, type WeightInit } from "./init.js";
import { Module } from "./module.js";

export interface Conv2dLayerOptions extends Conv2dOptions {
  bias?: boolean;
  init?: WeightInit;
  generator?: Generator;
}

/**
 * 2-D convolution over [N, C, H, W], weight [out, in/groups, kh, kw] as PyTorch's.
 * @example new Conv2d(1, 32, 3)
 */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /** The conv2d options this layer passes on (stride, padding, dilation, groups, layout). */
  readonly options: Conv2dOptions;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    options: Conv2dLayerOptions = {},
  ) {
    super();
    const [kh, kw] = typeof kernelSize === "number" ? [kernelSize, kernelSize] : kernelSize;
    const groups = options.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1 || inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new RangeError(`Conv2d: groups ${groups} must divide both ${inChannels} input and ${outChannels} output channels`);
    }
    this.weight = this.addParameter("weight", zeros([outChannels, inChannels / groups, kh, kw]));
    this.bias = this.addParameter("bias", options.bias === false ? null : zeros([outChannels]));
    initWeightAndBias(this.weight, this.bias, options.init ?? "default", options.generator);
    this.options = { stride: options.stride, padding: options.padding, dilation: options.dilation, groups, layout: options.layout };
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.options);
  }
}
