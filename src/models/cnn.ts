import { flatten, reshape } from "../ops/view.js";
import { permute } from "../ops/layout.js";
import { conv2dMaxPool } from "../ops/conv_pool.js";
import { relu } from "../ops/unary.js";
import { Conv2d } from "../nn/conv.js";
import type { WeightInit } from "../nn/init.js";
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import { release } from "../tensor/scope.js";
import { formatShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

export interface CNNConfig {
  /** Input [channels, height, width]. */
  input: [number, number, number];
  /** Output channels of each 3×3 convolution, each followed by ReLU and 2×2 max pooling. */
  channels: number[];
  hidden: number;
  classes: number;
  init?: WeightInit;
}

/**
 * A small convolutional classifier, as PyTorch's nn.Sequential(conv, ReLU, maxpool, ...,
 * flatten, fc, ReLU, fc): the same parameters under the same state-dict names ("0.weight",
 * "3.weight", ...), so weights interchange. Inside, it runs channels-last (NHWC): the
 * convolutions then need no activation reorders and pooling vectorises over channels; the
 * activations return to NCHW before flattening, so the first Linear sees PyTorch's order.
 * Each ReLU follows its pooling: max and ReLU commute, in values and gradients, and the ReLU
 * then touches a quarter of the elements. Convolution and pooling are one op (conv2dMaxPool),
 * which fuses them where its kernels take the convolution (the first, on 1-channel images).
 */
class CNN extends Module {
  private readonly convs: Conv2d[] = [];
  private readonly fc1: Linear;
  private readonly fc2: Linear;

  constructor(readonly config: CNNConfig) {
    super();
    let [c, h, w] = config.input;
    config.channels.forEach((out, i) => {
      this.convs.push(this.addModule(String(3 * i), new Conv2d(c, out, 3, { init: config.init, layout: "nhwc" })));
      c = out;
      h = Math.floor((h - 2) / 2);
      w = Math.floor((w - 2) / 2);
      if (h < 1 || w < 1) throw new RangeError(`cnn: input ${config.input.join("×")} is too small for ${config.channels.length} conv+pool stages`);
    });
    const n = config.channels.length;
    this.fc1 = this.addModule(String(3 * n + 1), new Linear(c * h * w, config.hidden, { init: config.init }));
    this.fc2 = this.addModule(String(3 * n + 3), new Linear(config.hidden, config.classes, { init: config.init }));
  }

  forward(x: Tensor): Tensor {
    const [channels, height, width] = this.config.input;
    if (x.ndim !== 4 || x.shape[1] !== channels || x.shape[2] !== height || x.shape[3] !== width) {
      throw new RangeError(`cnn: input ${formatShape(x.shape)} must be [N, ${channels}, ${height}, ${width}]`);
    }
    // One channel is the same memory in both layouts: a free reshape instead of a copy.
    let h = channels === 1 ? reshape(x, [x.shape[0]!, height, width, 1]) : permute(x, [0, 2, 3, 1]);
    for (const conv of this.convs) {
      const pooled = conv2dMaxPool(h, conv.weight, conv.bias, conv.options);
      h = release(relu(pooled), h, pooled);
    }
    const nchw = release(permute(h, [0, 3, 1, 2]), h);
    const flat = release(flatten(nchw, 1), nchw);
    const hidden = release(this.fc1.forward(flat), flat);
    const activated = release(relu(hidden), hidden);
    return release(this.fc2.forward(activated), activated);
  }
}

/**
 * The cnn of DESIGN.md §4 by default: input [1, 28, 28], channels [32, 64], hidden 128,
 * classes 10: conv 1→32 3×3, ReLU, maxpool 2, conv 32→64 3×3, ReLU, maxpool 2, fc 1600→128,
 * ReLU, fc 128→10.
 * @example const model = cnn({ input: [1, 28, 28], channels: [32, 64], hidden: 128, classes: 10 });
 */
export function cnn(config: CNNConfig): Module {
  return new CNN(config);
}
