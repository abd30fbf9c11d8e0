import { dropout } from "../ops/dropout.js";
import { avgPool2d, maxPool2d, type AvgPool2dOptions, type MaxPool2dOptions } from "../ops/pool.js";
import { gelu, relu, tanh } from "../ops/unary.js";
import { flatten } from "../ops/view.js";
import type { Pair } from "../ops/window.js";
import type { Generator } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

/** Parameter-free layers: activations, pooling, flatten, dropout. */

/** max(x, 0). @example new ReLU() */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** GELU, exact ("none") or tanh-approximated. @example new GELU("tanh") */
export class GELU extends Module {
  constructor(readonly approximate: "none" | "tanh" = "none") {
    super();
  }

  forward(x: Tensor): Tensor {
    return gelu(x, this.approximate);
  }
}

/** tanh(x). @example new Tanh() */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** Merges axes startDim..endDim (PyTorch's default keeps the batch axis). @example new Flatten() */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
}

/** Max pooling over [N, C, H, W]. @example new MaxPool2d(2) */
export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: MaxPool2dOptions = {},
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.options);
  }
}

/** Average pooling over [N, C, H, W]. @example new AvgPool2d(2) */
export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: AvgPool2dOptions = {},
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.options);
  }
}

/**
 * Zeroes elements with probability p in training mode and scales the rest by 1/(1−p); the
 * identity in eval mode.
 * @example new Dropout(0.1)
 */
export class Dropout extends Module {
  constructor(
    readonly p = 0.5,
    readonly generator?: Generator,
  ) {
    super();
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Dropout: p must be in [0, 1], got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }
}
