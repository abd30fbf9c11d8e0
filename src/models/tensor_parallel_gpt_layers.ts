import { Module } from "../nn/module.js";
import type { Tensor } from "../tensor/tensor.js";
import type { TensorParallelGPT } from "./tensor_parallel_gpt.js";

/** The batch and sequence extents of a [B, T, ...] tensor. */
function extents(x: Tensor): [number, number] {
  return [x.shape[0]!, x.shape[1]!];
}

/** Token and position embeddings: int32 ids [B, T] → the residual stream [B, T, width], whole on every rank. */
class SplitEmbeddingLayer extends Module {
  constructor(private readonly model: TensorParallelGPT) {
    super();
    this.addModule("tokens", model.tokens);
    this.addModule("positions", model.positions);
  }

  forward(idx: Tensor): Tensor {
    return this.model.embed(idx, this.model.streamOf(...extents(idx)));
  }
}

/** One split block as a layer of its own. */
class SplitBlockLayer extends Module {
  constructor(
    private readonly model: TensorParallelGPT,
    private readonly index: number,
  ) {
    super();
    this.addModule("block", model.blocks.at(index));
  }

  forward(x: Tensor): Tensor {
    return this.model.runBlock(this.index, x, this.model.streamOf(...extents(x)));
  }
}

/**
 * The final LayerNorm and the vocabulary-parallel head (the token embedding's rows when tied):
 * forward gathers the full logits (evaluation), `loss` never does (training).
 */
class SplitHeadLayer extends Module {
  constructor(private readonly model: TensorParallelGPT) {
    super();
    this.addModule("lnF", model.lnF);
    this.addModule(model.head ? "head" : "tokens", model.head ?? model.tokens);
  }

  forward(x: Tensor): Tensor {
    return this.model.fullLogits(this.model.localHead(x, this.model.streamOf(...extents(x))));
  }

  /** The mean cross-entropy of `targets` [B, T] from the residual stream x, vocabulary-parallel. */
  loss(x: Tensor, targets: Tensor): Tensor {
    return this.model.lossOfLogits(this.model.localHead(x, this.model.streamOf(...extents(x))), targets);
  }
}

/**
 * A TensorParallelGPT as the chain of layers a pipeline cuts (see its `pipelineLayers`): the
 * embeddings, each block, the head; they share the model's modules and parameters.
 * @example const layers = splitPipelineLayers(tpGpt);   // [embedding, ...blocks, head]
 */
export function splitPipelineLayers(model: TensorParallelGPT): Module[] {
  return [new SplitEmbeddingLayer(model), ...model.blocks.items.map((_, i) => new SplitBlockLayer(model, i)), new SplitHeadLayer(model)];
}
