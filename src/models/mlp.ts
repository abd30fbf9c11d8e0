import { Sequential } from "../nn/containers.js";
import type { WeightInit } from "../nn/init.js";
import { Flatten, ReLU } from "../nn/layers.js";
import { Linear } from "../nn/linear.js";
import type { Module } from "../nn/module.js";

export interface MLPConfig {
  inputs: number;
  hidden: number[];
  classes: number;
  init?: WeightInit;
}

/**
 * A multi-layer perceptron: flatten, then Linear and ReLU per hidden width, then a Linear
 * head. The `mlp` workload is inputs 784, hidden [1024, 1024], classes 10.
 * @example const model = mlp({ inputs: 784, hidden: [1024, 1024], classes: 10 });
 */
export function mlp(config: MLPConfig): Module {
  const layers: Module[] = [new Flatten()];
  let width = config.inputs;
  for (const h of config.hidden) {
    layers.push(new Linear(width, h, { init: config.init }), new ReLU());
    width = h;
  }
  layers.push(new Linear(width, config.classes, { init: config.init }));
  return new Sequential(...layers);
}
