import { embedding } from "../ops/embedding.js";
import { zeros } from "../tensor/create.js";
import { type Generator, normal_ } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

/**
 * A table of `count` vectors of `dim` values, looked up by int32 indices; initialised
 * N(0, 1) as PyTorch's.
 * @example const tok = new Embedding(vocabSize, 256); tok.forward(ids) // [B, T] -> [B, T, 256]
 */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly count: number,
    readonly dim: number,
    options: { generator?: Generator; std?: number } = {},
  ) {
    super();
    this.weight = this.addParameter("weight", zeros([count, dim]));
    normal_(this.weight, 0, options.std ?? 1, options.generator);
  }

  forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight);
  }
}
