import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

/**
 * Modules applied one after another. Intermediate outputs are released as soon as the next
 * module has consumed them (autograd keeps what backward needs), so a forward pass holds no
 * more activation memory than PyTorch's.
 *
 * @example
 * const mlp = new Sequential(new Linear(784, 1024), new ReLU(), new Linear(1024, 10));
 */
export class Sequential extends Module {
  readonly layers: readonly Module[];

  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => this.addModule(String(i), m));
    this.layers = layers;
  }

  forward(input: Tensor): Tensor {
    let x = input;
    for (const layer of this.layers) {
      const y = layer.forward(x);
      if (x !== input && x !== y) x.dispose();
      x = y;
    }
    return x;
  }
}

/**
 * A list of modules registered under their indices, for models that iterate their blocks
 * themselves (it has no forward of its own).
 *
 * @example
 * const blocks = new ModuleList(Array.from({ length: 4 }, () => new Block(cfg)));
 */
export class ModuleList extends Module {
  readonly items: readonly Module[];

  constructor(items: Module[]) {
    super();
    items.forEach((m, i) => this.addModule(String(i), m));
    this.items = items;
  }

  get length(): number {
    return this.items.length;
  }

  at(index: number): Module {
    const m = this.items[index];
    if (!m) throw new RangeError(`ModuleList: index ${index} is out of range for ${this.items.length} modules`);
    return m;
  }

  forward(): Tensor {
    throw new Error("ModuleList has no forward; iterate its items");
  }
}
