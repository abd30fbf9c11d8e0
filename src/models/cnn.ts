import { Sequential } from "../nn/containers.js";
import { Conv2d } from "../nn/conv.js";
import type { WeightInit } from "../nn/init.js";
import { Flatten, MaxPool2d, ReLU } from "../nn/layers.js";
import { Linear } from "../nn/linear.js";
import type { Module } from "../nn/module.js";

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
 * A small convolutional classifier. The `cnn` workload is input [1, 28, 28], channels
 * [32, 64], hidden 128, classes 10: conv 1→32 3×3, ReLU, maxpool 2, conv 32→64 3×3, ReLU,
 * maxpool 2, fc 1600→128, ReLU, fc 128→10 (each ReLU applied after its pooling, equivalently).
 * @example const model = cnn({ input: [1, 28, 28], channels: [32, 64], hidden: 128, classes: 10 });
 */
export function cnn(config: CNNConfig): Module {
  const layers: Module[] = [];
  let [c, h, w] = config.input;
  for (const out of config.channels) {
    // Pooling before the ReLU: max and ReLU commute, in values and in gradients (a window whose
    // maximum is ≤ 0 passes no gradient either way), and the ReLU then runs on a quarter of the
    // elements. The parameters, and so the state dict, are PyTorch's conv-ReLU-pool model's.
    layers.push(new Conv2d(c, out, 3, { init: config.init }), new MaxPool2d(2), new ReLU());
    c = out;
    h = Math.floor((h - 2) / 2);
    w = Math.floor((w - 2) / 2);
    if (h < 1 || w < 1) throw new RangeError(`cnn: input ${config.input.join("×")} is too small for ${config.channels.length} conv+pool stages`);
  }
  layers.push(new Flatten(), new Linear(c * h * w, config.hidden, { init: config.init }), new ReLU(), new Linear(config.hidden, config.classes, { init: config.init }));
  return new Sequential(...layers);
}
