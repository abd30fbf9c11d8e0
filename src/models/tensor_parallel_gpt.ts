import { checkpoint } from "../autograd/checkpoint.js";
import { add } from "../ops/binary.js";
import { causalSelfAttention } from "../ops/attention.js";
import { autocastLowDType } from "../ops/autocast_hook.js";
import { dropout } from "../ops/dropout.js";
import { slice } from "../ops/layout.js";
import { linear } from "../ops/matmul.js";
import { reshape } from "../ops/view.js";
import { ModuleList } from "../nn/containers.js";
import { materialize } from "../nn/deferred.js";
import type { Embedding } from "../nn/embedding.js";
import { GELU } from "../nn/layers.js";
import type { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import type { LayerNorm } from "../nn/normalization.js";
import type { ProcessGroup } from "../parallel/process_group.js";
import { copyToRegion, gatherFromRegion } from "../parallel/region_ops.js";
import { ColumnParallelLinear } from "../parallel/tensor/column_parallel_linear.js";
import { RowParallelLinear } from "../parallel/tensor/row_parallel_linear.js";
import { sequenceParallelDropout } from "../parallel/tensor/sequence_dropout.js";
import { vocabParallelCrossEntropy } from "../parallel/tensor/vocab_parallel_cross_entropy.js";
import { VocabParallelEmbedding } from "../parallel/tensor/vocab_parallel_embedding.js";
import { arange, fromTypedArray } from "../tensor/create.js";
import type { DType } from "../tensor/dtype.js";
import { release } from "../tensor/scope.js";
import { formatShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import type { GPT, GPTConfig } from "./gpt.js";
import { splitPipelineLayers } from "./tensor_parallel_gpt_layers.js";

export interface TensorParallelOptions {
  /**
   * Split the LayerNorm and dropout regions along the tokens too (Megatron's sequence
   * parallelism): between the parallel layers each rank holds its chunk of the B·T rows, the
   * f/g all-reduces become all-gathers and reduce-scatters, and activations there take 1/t of
   * the memory. B·T must divide by the ranks. Default false.
   */
  sequenceParallel?: boolean;
  /**
   * Keep the parameters meta (when the full model is): a pipeline stage then materialises only
   * its own layers' parts. Default false: this rank's part of every layer is materialised here.
   */
  deferred?: boolean;
}

/** The dtype a Linear computes in here: the autocast scope's low precision, or undefined (its input's). */
function linearDType(): DType | undefined {
  return autocastLowDType("linear") ?? undefined;
}

/** The named module of the full model (its parameters may be meta, from deferInit). */
function part<M extends Module>(full: Module, name: string): M {
  const found = full.namedModules().find(([n]) => n === name);
  if (!found) throw new Error(`TensorParallelGPT: the full model has no module ${name}`);
  return found[1] as M;
}

/** Where the residual stream lives: whole on every rank, or a chunk of its rows per rank. */
export interface Stream {
  group: ProcessGroup;
  sequenceParallel: boolean;
  p: number;
  batch: number;
  time: number;
}

function residualDropout(x: Tensor, s: Stream, training: boolean): Tensor {
  return s.sequenceParallel ? sequenceParallelDropout(x, s.p, training, s.group) : dropout(x, s.p, training);
}

/** Attention split by heads: each rank's q, k and v columns are its heads; the output projection by rows. */
class ParallelAttention extends Module {
  readonly qkv: ColumnParallelLinear;
  readonly proj: RowParallelLinear;

  constructor(full: Module, prefix: string, group: ProcessGroup, sequenceParallel: boolean) {
    super();
    this.qkv = this.addModule("qkv", new ColumnParallelLinear(part<Linear>(full, `${prefix}.qkv`), group, { blocks: 3, sequenceParallel }));
    this.proj = this.addModule("proj", new RowParallelLinear(part<Linear>(full, `${prefix}.proj`), group, { sequenceParallel }));
  }

  run(x: Tensor, heads: number, s: Stream): Tensor {
    const packed = this.qkv.forward(x);
    const qkv = reshape(packed, [s.batch, s.time, packed.shape[packed.ndim - 1]!]);
    const attended = causalSelfAttention(qkv, heads);
    const rows = reshape(attended, s.sequenceParallel ? [s.batch * s.time, attended.shape[2]!] : attended.shape);
    const out = this.proj.forward(rows);
    return release(residualDropout(out, s, this.training), packed, qkv, attended, rows, out);
  }

  forward(): Tensor {
    throw new Error("ParallelAttention runs inside TensorParallelGPT");
  }
}

/** A pre-LayerNorm block with attention split by heads and the MLP by columns then rows. */
class ParallelBlock extends Module {
  readonly ln1: LayerNorm;
  readonly attn: ParallelAttention;
  readonly ln2: LayerNorm;
  readonly fc: ColumnParallelLinear;
  readonly gelu = new GELU();
  readonly fcProj: RowParallelLinear;

  constructor(
    full: Module,
    prefix: string,
    group: ProcessGroup,
    private readonly heads: number,
    sequenceParallel: boolean,
  ) {
    super();
    this.ln1 = this.addModule("ln1", part<LayerNorm>(full, `${prefix}.ln1`));
    this.attn = this.addModule("attn", new ParallelAttention(full, `${prefix}.attn`, group, sequenceParallel));
    this.ln2 = this.addModule("ln2", part<LayerNorm>(full, `${prefix}.ln2`));
    this.fc = this.addModule("fc", new ColumnParallelLinear(part<Linear>(full, `${prefix}.fc`), group, { sequenceParallel }));
    this.fcProj = this.addModule("fcProj", new RowParallelLinear(part<Linear>(full, `${prefix}.fcProj`), group, { sequenceParallel }));
  }

  run(x: Tensor, s: Stream): Tensor {
    const h1 = this.ln1.forward(x, linearDType());
    const a = this.attn.run(h1, this.heads, s);
    const x1 = release(add(x, a), h1, a);
    const h2 = this.ln2.forward(x1, linearDType());
    const f = this.fc.forward(h2);
    const g = this.gelu.forward(f);
    const p = this.fcProj.forward(g);
    const m = residualDropout(p, s, this.training);
    return release(add(x1, m), x1, h2, f, g, p, m);
  }

  forward(): Tensor {
    throw new Error("ParallelBlock runs inside TensorParallelGPT");
  }
}

/**
 * A GPT split Megatron-style across a tensor-parallel group: vocabulary-parallel token
 * embedding and head (any vocabulary: padded to a multiple of the ranks and masked), attention
 * split by heads, the MLP by columns then rows, two all-reduces forward and two backward per
 * block; optionally sequence parallel. Built from a full GPT (best made under `nn.deferInit`, so
 * each rank materialises only its part) with the same parameter names, so a seed gives every
 * group size the same initial model, and the strategy can gather a checkpoint of the full GPT.
 * heads and 4·width must divide by the group's size.
 *
 * @example
 * const full = nn.deferInit(() => new models.GPT({ vocabSize: 65, context: 64, layers: 2, heads: 4, width: 64 }));
 * const model = new models.TensorParallelGPT(full, tp);
 * const loss = model.loss(tokens, targets);   // vocabulary-parallel cross-entropy
 */
export class TensorParallelGPT extends Module {
  readonly config: GPTConfig;
  readonly tokens: VocabParallelEmbedding;
  readonly positions: Embedding;
  readonly blocks: ModuleList;
  readonly lnF: LayerNorm;
  readonly head: ColumnParallelLinear | null;
  readonly sequenceParallel: boolean;
  private layers: Module[] | null = null;

  constructor(
    full: GPT,
    readonly group: ProcessGroup,
    options: TensorParallelOptions = {},
  ) {
    super();
    const config = (this.config = full.config);
    const t = group.size;
    if (config.heads % t !== 0)
      throw new RangeError(
        `TensorParallelGPT: ${config.heads} heads do not split across ${t} tensor-parallel ranks (heads must be a multiple of the tensor size)`,
      );
    const sp = (this.sequenceParallel = options.sequenceParallel ?? false);
    this.tokens = this.addModule("tokens", new VocabParallelEmbedding(full.tokens, group, { sequenceParallel: sp }));
    this.positions = this.addModule("positions", part<Embedding>(full, "positions"));
    const blocks = full.blocks.items.map((_, i) => new ParallelBlock(full, `blocks.${i}`, group, config.heads / t, sp));
    this.blocks = this.addModule("blocks", new ModuleList(blocks));
    this.lnF = this.addModule("lnF", part<LayerNorm>(full, "lnF"));
    this.head = full.head ? this.addModule("head", new ColumnParallelLinear(full.head, group, { sequenceParallel: sp })) : null;
    if (!options.deferred) materialize(this);
  }

  /** This rank's columns of the logits, [B, T, V/t] (the vocabulary padded to a multiple of t). */
  localLogits(idx: Tensor): Tensor {
    const [batch, time] = idx.shape as [number, number];
    const s = this.streamOf(batch, time);
    let x = this.embed(idx, s);
    for (let i = 0; i < this.blocks.length; i++) x = release(this.runBlock(i, x, s), x);
    return release(this.localHead(x, s), x);
  }

  /** Where the residual stream of a batch of [batch, time] tokens lives (whole, or sequence parallel: a chunk of its rows). */
  streamOf(batch: number, time: number): Stream {
    return { group: this.group, sequenceParallel: this.sequenceParallel, p: this.config.dropout ?? 0, batch, time };
  }

  /** Token and position embeddings of int32 ids [B, T] (with dropout): the residual stream's input. */
  embed(idx: Tensor, s: Stream): Tensor {
    if (idx.dtype !== "int32" || idx.ndim !== 2)
      throw new TypeError(`TensorParallelGPT: input must be int32 token ids [B, T], got ${idx.dtype} ${formatShape(idx.shape)}`);
    if (s.time > this.config.context) throw new RangeError(`TensorParallelGPT: sequence of ${s.time} tokens exceeds the context of ${this.config.context}`);
    const tok = this.tokens.forward(idx);
    const positions = this.positionIds(tok.shape[0]!, s.time);
    const pos = this.positions.forward(positions);
    const embedded = release(add(tok, pos), tok, pos, positions);
    return release(residualDropout(embedded, s, this.training), embedded);
  }

  /** Block `index` on the residual stream (under activation checkpointing when the config asks). */
  runBlock(index: number, x: Tensor, s: Stream): Tensor {
    const block = this.blocks.at(index) as ParallelBlock;
    return this.config.checkpoint ? checkpoint((h) => block.run(h, s), x) : block.run(x, s);
  }

  /** The final LayerNorm and this rank's vocabulary columns of the head: logits [B, T, V/t]. */
  localHead(x: Tensor, s: Stream): Tensor {
    const h = this.lnF.forward(x, linearDType());
    const out = this.head ? this.head.forward(h) : this.tiedHead(h);
    const logits = reshape(out, [s.batch, s.time, out.shape[out.ndim - 1]!]);
    return release(logits, h, out);
  }

  /**
   * The full logits [B, T, vocabSize] on every rank (gathered; for evaluation and generation).
   * Training uses `loss`, which never gathers them.
   */
  forward(idx: Tensor): Tensor {
    return this.fullLogits(this.localLogits(idx));
  }

  /** The mean next-token cross-entropy of `targets` [B, T], vocabulary-parallel. */
  loss(idx: Tensor, targets: Tensor): Tensor {
    return this.lossOfLogits(this.localLogits(idx), targets);
  }

  /** Gathers local logits (and gives their handle back) into the full, unpadded ones. */
  fullLogits(local: Tensor): Tensor {
    const gathered = gatherFromRegion(local, this.group);
    return release(slice(gathered, 2, 0, this.config.vocabSize), local, gathered);
  }

  /** The vocabulary-parallel cross-entropy of local logits (whose handle it gives back). */
  lossOfLogits(local: Tensor, targets: Tensor): Tensor {
    return release(vocabParallelCrossEntropy(local, targets, this.group, this.config.vocabSize), local);
  }

  /**
   * The split model as a chain of layers for pipeline stages (embeddings, each block, the final
   * norm and head), sharing this model's modules; the last layer computes the
   * vocabulary-parallel loss itself. Not with sequence parallelism (a stage's rows would not
   * tell the batch from the sequence).
   * @example new PipelineParallel(tpGpt, mesh.groups.pipeline, { tensorGroup: mesh.groups.tensor })
   */
  pipelineLayers(): Module[] {
    if (this.sequenceParallel)
      throw new RangeError(
        "TensorParallelGPT: sequence parallelism does not combine with pipeline stages (parallel.sequenceParallel needs parallel.pipeline 1)",
      );
    this.layers ??= splitPipelineLayers(this);
    return this.layers;
  }

  /** Positions of the rows this rank holds: all of [0, T) or, sequence parallel, its chunk of the B·T rows. */
  private positionIds(rows: number, time: number): Tensor {
    if (!this.sequenceParallel) return arange(time, undefined, 1, { dtype: "int32" });
    const ids = new Int32Array(rows);
    for (let i = 0; i < rows; i++) ids[i] = (this.group.rank * rows + i) % time;
    return fromTypedArray(ids, [rows]);
  }

  /** The head tied to the token embedding: this rank's vocabulary rows as output columns. */
  private tiedHead(h: Tensor): Tensor {
    const input = this.sequenceParallel ? gatherFromRegion(h, this.group, { dim: 0, backward: "reduceScatter" }) : copyToRegion(h, this.group);
    return release(linear(input, this.tokens.weight), input);
  }
}
