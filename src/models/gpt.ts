import { checkpoint } from "../autograd/checkpoint.js";
import { add } from "../ops/binary.js";
import { causalSelfAttention } from "../ops/attention.js";
import { autocastLowDType } from "../ops/autocast_hook.js";
import { linear } from "../ops/matmul.js";
import { ModuleList } from "../nn/containers.js";
import { Embedding } from "../nn/embedding.js";
import { Dropout } from "../nn/layers.js";
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import { MixtureOfExperts, type MoEOptions } from "../nn/moe.js";
import { LayerNorm } from "../nn/normalization.js";
import { arange, fillWith } from "../tensor/create.js";
import { normal_ } from "../tensor/random.js";
import { formatShape } from "../tensor/shape.js";
import { release } from "../tensor/scope.js";
import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";

export interface GPTConfig {
  vocabSize: number;
  /** Longest context (position embeddings). */
  context: number;
  layers: number;
  heads: number;
  /** Embedding width; a multiple of heads unless headDim is given. */
  width: number;
  /** Width of each attention head (default width / heads); a gpt whose heads were pruned keeps its original one. */
  headDim?: number;
  /** Neurons of each block's MLP (default 4 × width); a gpt whose MLP neurons were pruned has fewer. */
  mlpHidden?: number;
  /** Share the token embedding with the output head (default true). */
  tiedHead?: boolean;
  dropout?: number;
  /** Recompute each block's activations in backward instead of keeping them (default false). */
  checkpoint?: boolean;
  /** Replace every block's MLP by a mixture of experts (auxLossWeight scales their load-balancing loss). */
  moe?: MoEOptions;
}

/**
 * Causal multi-head self-attention: one Linear to q, k and v, the fused blockwise attention
 * kernel reading its heads straight from that packed projection (no T×T matrix is kept, no
 * split or transpose is copied), and an output projection.
 */
class CausalSelfAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly dropout: Dropout;

  constructor(readonly config: GPTConfig) {
    super();
    const inner = config.heads * (config.headDim ?? config.width / config.heads);
    this.qkv = this.addModule("qkv", new Linear(config.width, 3 * inner));
    this.proj = this.addModule("proj", new Linear(inner, config.width));
    this.dropout = this.addModule("dropout", new Dropout(config.dropout ?? 0));
  }

  forward(x: Tensor): Tensor {
    const qkv = this.qkv.forward(x);
    const attended = causalSelfAttention(qkv, this.config.heads);
    const projected = this.proj.forward(attended);
    // Without dropout its output shares projected's storage; either way this handle is done.
    const out = this.dropout.forward(projected);
    return release(out, qkv, attended, projected);
  }
}

/** The dtype a Linear computes in here: the autocast scope's low precision, or undefined (its input's). */
function linearDType(): DType | undefined {
  return autocastLowDType("linear") ?? undefined;
}

/**
 * A pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x)) with a GELU MLP ×4,
 * or with a mixture of such MLPs when the config has `moe`.
 */
class Block extends Module {
  readonly ln1: LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly ln2: LayerNorm;
  readonly fc: Linear | null = null;
  readonly fcProj: Linear | null = null;
  readonly moe: MixtureOfExperts | null = null;
  readonly dropout: Dropout;

  constructor(config: GPTConfig) {
    super();
    this.ln1 = this.addModule("ln1", new LayerNorm(config.width));
    this.attn = this.addModule("attn", new CausalSelfAttention(config));
    this.ln2 = this.addModule("ln2", new LayerNorm(config.width));
    if (config.moe) {
      this.moe = this.addModule("moe", new MixtureOfExperts(config.width, config.moe));
    } else {
      const hidden = config.mlpHidden ?? 4 * config.width;
      this.fc = this.addModule("fc", new Linear(config.width, hidden));
      this.fcProj = this.addModule("fcProj", new Linear(hidden, config.width));
    }
    this.dropout = this.addModule("dropout", new Dropout(config.dropout ?? 0));
  }

  forward(x: Tensor): Tensor {
    // Each LayerNorm feeds a Linear: under autocast it writes the Linear's dtype in the same pass.
    const h1 = this.ln1.forward(x, linearDType());
    const a = this.attn.forward(h1);
    // The residual add and ln2 in one pass (addLayerNorm): x1 = x + a (the stream's dtype), h2 = ln2(x1).
    const [x1, h2] = release(this.ln2.forward(x, a, linearDType()), h1, a);
    const p = this.moe ? this.moe.forward(h2) : this.denseMlp(h2);
    const m = this.dropout.forward(p);
    return release(add(x1, m), x1, h2, p, m);
  }

  private denseMlp(h: Tensor): Tensor {
    // fc and its GELU as one fused op.
    const g = this.fc!.forward(h, "gelu");
    return release(this.fcProj!.forward(g), g);
  }
}

/** Token plus position embeddings (and dropout): int32 ids [B, T] → [B, T, width]. */
class GPTEmbedding extends Module {
  constructor(
    readonly tokens: Embedding,
    readonly positions: Embedding,
    readonly dropout: Dropout,
    readonly context: number,
  ) {
    super();
    for (const [name, m] of Object.entries({ tokens, positions, dropout })) this.addModule(name, m);
  }

  forward(idx: Tensor): Tensor {
    if (idx.dtype !== "int32" || idx.ndim !== 2) throw new TypeError(`GPT: input must be int32 token ids [B, T], got ${idx.dtype} ${formatShape(idx.shape)}`);
    const time = idx.shape[1]!;
    if (time > this.context) throw new RangeError(`GPT: sequence of ${time} tokens exceeds the context of ${this.context}`);
    const positions = arange(time, undefined, 1, { dtype: "int32" });
    const tok = this.tokens.forward(idx),
      pos = this.positions.forward(positions);
    const embedded = release(add(tok, pos), tok, pos, positions);
    return release(this.dropout.forward(embedded), embedded);
  }
}

/** A block as a layer of its own: with `recompute`, under activation checkpointing. */
class BlockLayer extends Module {
  constructor(
    readonly block: Block,
    readonly recompute: boolean,
  ) {
    super();
    this.addModule("block", block);
  }

  forward(x: Tensor): Tensor {
    return this.recompute ? (checkpoint((h) => this.block.forward(h), x) as Tensor) : this.block.forward(x);
  }
}

/** The final LayerNorm and the head to the vocabulary (the token embedding's matrix when tied). */
class GPTHead extends Module {
  constructor(
    readonly lnF: LayerNorm,
    readonly head: Linear | null,
    readonly tokens: Embedding,
  ) {
    super();
    this.addModule("lnF", lnF);
    this.addModule(head ? "head" : "tokens", head ?? tokens);
  }

  forward(x: Tensor): Tensor {
    const h = this.lnF.forward(x, linearDType());
    return release(this.head ? this.head.forward(h) : linear(h, this.tokens.weight), h);
  }
}

/**
 * A GPT (decoder-only transformer): token and position embeddings, pre-LayerNorm blocks of
 * causal self-attention and a GELU MLP, a final LayerNorm and a head to the vocabulary (tied
 * to the token embedding by default). Initialised as GPT-2: N(0, 0.02²) weights, zero biases,
 * the residual projections scaled by 1/√(2·layers). With `checkpoint`, each block keeps only
 * its input for backward and recomputes the rest (activation checkpointing).
 *
 * @example
 * const model = new GPT({ vocabSize: 65, context: 128, layers: 4, heads: 4, width: 256 });
 * const logits = model.forward(tokens);   // int32 [B, T] -> [B, T, vocabSize]
 */
export class GPT extends Module {
  readonly tokens: Embedding;
  readonly positions: Embedding;
  readonly blocks: ModuleList;
  readonly lnF: LayerNorm;
  readonly head: Linear | null;
  readonly dropout: Dropout;
  private layers: Module[] | null = null;

  constructor(readonly config: GPTConfig) {
    super();
    const { vocabSize, context, layers, heads, width } = config;
    for (const [name, v] of Object.entries({ vocabSize, context, layers, heads, width })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`GPT: ${name} must be a positive integer, got ${v}`);
    }
    if (config.headDim === undefined ? width % heads !== 0 : !Number.isInteger(config.headDim) || config.headDim < 1) {
      throw new RangeError(
        config.headDim === undefined
          ? `GPT: width ${width} is not a multiple of heads ${heads}`
          : `GPT: headDim must be a positive integer, got ${config.headDim}`,
      );
    }
    this.tokens = this.addModule("tokens", new Embedding(vocabSize, width, { std: 0.02 }));
    this.positions = this.addModule("positions", new Embedding(context, width, { std: 0.02 }));
    this.dropout = this.addModule("dropout", new Dropout(config.dropout ?? 0));
    this.blocks = this.addModule("blocks", new ModuleList(Array.from({ length: layers }, () => new Block(config))));
    this.lnF = this.addModule("lnF", new LayerNorm(width));
    this.head = config.tiedHead === false ? this.addModule("head", new Linear(width, vocabSize, { bias: false })) : null;
    this.initialise();
  }

  private initialise(): void {
    const residualStd = 0.02 / Math.sqrt(2 * this.config.layers);
    for (const [name, p] of this.namedParameters()) {
      if (name.startsWith("tokens.") || name.startsWith("positions.")) continue; // already N(0, 0.02²)
      if (p.ndim === 2) normal_(p, 0, name.endsWith("proj.weight") || name.endsWith("fcProj.weight") ? residualStd : 0.02);
      else if (name.endsWith(".bias") && !name.includes("ln")) fillWith(p, 0);
    }
  }

  /**
   * The model as a chain of layers (embeddings, each block, the final norm and head), for
   * pipeline parallelism to cut into stages; they share this model's modules and parameters,
   * and forward runs exactly them. With a tied head the first and last layers share the token
   * embedding.
   * @example const [embed, ...rest] = gpt.pipelineLayers();
   */
  pipelineLayers(): Module[] {
    this.layers ??= [
      new GPTEmbedding(this.tokens, this.positions, this.dropout, this.config.context),
      ...this.blocks.items.map((block) => new BlockLayer(block as Block, this.config.checkpoint ?? false)),
      new GPTHead(this.lnF, this.head, this.tokens),
    ];
    return this.layers;
  }

  forward(idx: Tensor): Tensor {
    let x = idx;
    for (const layer of this.pipelineLayers()) {
      const y = layer.forward(x);
      if (x !== idx) x.dispose();
      x = y;
    }
    return x;
  }
}
