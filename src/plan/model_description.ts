import type { Config } from "../train/config.js";

/**
 * Elements per sample of activation tensors, by dtype and by whether tensor parallelism splits
 * them across its ranks (attention heads, MLP columns, the vocabulary) or every rank holds them
 * (the residual stream, the norms' inputs and outputs).
 */
export interface ActivationElements {
  /** float32 whatever the precision: the residual stream, norm statistics, 4-byte token ids. */
  f32: number;
  /** float32, split by tensor parallelism. */
  f32Split: number;
  /** In the compute dtype (autocast's low precision: 2 bytes under bfloat16 or float16, else 4). */
  compute: number;
  /** In the compute dtype, split by tensor parallelism. */
  computeSplit: number;
  /** Copies made only when the compute dtype is below float32 (a float32 tensor cast for a low-precision op). */
  lowCopies: number;
}

/** One layer of a model as the planner sees it: sizes, work and activations per sample, never tensors. */
export interface LayerDescription {
  name: string;
  /** Parameter elements this layer owns. */
  parameters: number;
  /** Of them, the elements tensor parallelism splits (the rest every tensor rank holds). */
  splitParameters: number;
  /** Elements of parameters another layer owns that this one also uses (a tied head's embedding). */
  sharedParameters: number;
  /** The layer that owns them: a rank without it holds them too. */
  sharedFrom: string | null;
  largestParameter: number;
  /** Weight elements of low-precision ops, of which autocast keeps a 2-byte copy. */
  lowPrecisionParameters: number;
  /** Forward FLOPs per sample of matrix products and convolutions (tensor parallelism splits them). */
  matmulFlops: number;
  /** The products' smaller dimension (the model's width): small products run below the peak rate. */
  matmulSize: number;
  /** Forward FLOPs per sample of attention's score and value products (split by heads). */
  attentionFlops: number;
  /** Tokens each attention attends over (the context): short ones run below the peak rate. */
  attentionContext: number;
  /** Elements per sample that forward's element-wise ops (activations, residual adds, biases, pooling) write. */
  elementwise: number;
  /** Elements per sample of the rows forward normalizes (LayerNorm's, the loss's softmax): a reduction pass and a backward of three. */
  normalized: number;
  /** All-reduces (compute dtype) of its forward and backward under tensor parallelism (Megatron: 4 per block). */
  tensorExchanges: number;
  /** Elements per sample of each of them (the residual stream's width × tokens for the gpt). */
  tensorExchangeSize: number;
  /** Kernel calls of its forward (the per-call overhead); backward runs one autograd node for each. */
  kernelCalls: number;
  /** Parameter tensors it owns: the optimizer step and gradient clipping pay a call for each. */
  parameterTensors: number;
  /** Modules among them that own parameters: ZeRO-3 all-gathers each as a unit, in forward and again in backward. */
  parameterUnits: number;
  /** What forward keeps for backward, freed once this layer's backward has run. */
  saved: ActivationElements;
  /** What forward makes that the training step holds to its end (the logits, which the step's scope owns). */
  heldToStepEnd: ActivationElements;
  /**
   * What its backward holds at once per sample on top of the saved tensors (the gradients of
   * activations); beside them its largest weight's f32 gradient, filed as an activation until
   * autograd hands it to the parameter.
   */
  backwardTransient: ActivationElements;
  /** float32 elements per sample of its output: passed to the next pipeline stage, kept by checkpointing. */
  output: number;
  /** Activation checkpointing recomputes it in backward, keeping only its input (gpt blocks under model.checkpoint). */
  checkpointed: boolean;
}

/** A model described from its config alone (a billion-parameter model costs no memory). */
export interface ModelDescription {
  kind: Config["model"]["kind"];
  layers: LayerDescription[];
  /** Ψ: parameter elements. */
  parameters: number;
  largestParameter: number;
  lowPrecisionParameters: number;
  /** Elements per sample of the input batch (token ids or images, and targets). */
  inputElements: number;
  /** Tokens per sample (gpt: the context; 1 for the classifiers), the throughput unit. */
  tokensPerSample: number;
  /** Whether pipeline parallelism can cut it into stages (a Sequential or the gpt's layers). */
  pipelineable: boolean;
}

const none: ActivationElements = { f32: 0, f32Split: 0, compute: 0, computeSplit: 0, lowCopies: 0 };
const act = (part: Partial<ActivationElements>): ActivationElements => ({ ...none, ...part });

/** Summary fields of a model from its layers. */
function modelOf(
  kind: ModelDescription["kind"],
  layers: LayerDescription[],
  rest: Omit<ModelDescription, "kind" | "layers" | "parameters" | "largestParameter" | "lowPrecisionParameters">,
): ModelDescription {
  return {
    kind,
    layers,
    parameters: layers.reduce((n, l) => n + l.parameters, 0),
    largestParameter: layers.reduce((n, l) => Math.max(n, l.largestParameter), 0),
    lowPrecisionParameters: layers.reduce((n, l) => n + l.lowPrecisionParameters, 0),
    ...rest,
  };
}

function layer(name: string, fields: Partial<LayerDescription>): LayerDescription {
  return {
    name,
    parameters: 0,
    splitParameters: 0,
    sharedParameters: 0,
    sharedFrom: null,
    largestParameter: 0,
    lowPrecisionParameters: 0,
    matmulFlops: 0,
    matmulSize: 1,
    attentionFlops: 0,
    attentionContext: 1,
    elementwise: 0,
    normalized: 0,
    tensorExchanges: 0,
    tensorExchangeSize: 0,
    kernelCalls: 1,
    parameterTensors: 0,
    parameterUnits: 0,
    saved: none,
    heldToStepEnd: none,
    backwardTransient: none,
    output: 0,
    checkpointed: false,
    ...fields,
  };
}

/**
 * The gpt (src/models/gpt.ts) as layers: the embeddings, each block, the final norm and head.
 * Per block of width d over T tokens: LayerNorm keeps its f32 input and 3 f32 statistics per
 * row (mean as hi + lo, rstd); the q, k, v projection keeps the norm's output; attention keeps
 * the packed q, k, v, its output and one f32 log-sum-exp per head and row; the MLP keeps its
 * input, the first product (GELU's input) and GELU's output. The head keeps the norm's input
 * and output, the logits (the training step holds them until its scope ends) and the fused
 * cross-entropy's gradient (T × vocabulary each, in the logits' dtype). Backward frees each
 * node's kept tensors once it has run, so a block's working set on top of them is its MLP's
 * two 4× gradients less the GELU output already freed, and the residual stream's gradients.
 */
function gptLayers(m: Extract<Config["model"], { kind: "gpt" }>, vocab: number): LayerDescription[] {
  const { width: d, context: T, heads: h, layers: n } = m;
  const block = layer("block", {
    parameters: 12 * d * d + 13 * d,
    splitParameters: 12 * d * d + 7 * d,
    largestParameter: 4 * d * d,
    lowPrecisionParameters: 12 * d * d,
    matmulFlops: 2 * T * 12 * d * d,
    matmulSize: d,
    // Causal: half of the T × T scores, for QKᵀ and for the product with V.
    attentionFlops: 2 * T * T * d,
    attentionContext: T,
    // The two residual adds and the MLP's GELU; the two LayerNorms.
    elementwise: 2 * T * d + 4 * T * d,
    normalized: 2 * T * d,
    tensorExchanges: 4,
    tensorExchangeSize: T * d,
    // ln1, qkv, attention, proj, add, ln2, fc + GELU, fcProj, add, and the two dropouts.
    kernelCalls: 11,
    // Weight and bias of ln1, qkv, proj, ln2, fc and fcProj.
    parameterTensors: 12,
    parameterUnits: 6,
    saved: act({ f32: 2 * T * d + 6 * T, compute: 2 * T * d, computeSplit: 12 * T * d, f32Split: h * T }),
    // At fcProj: the residual stream's incoming gradient (cast for the low-precision product) and GELU's output's.
    backwardTransient: act({ f32: T * d, lowCopies: T * d, computeSplit: 4 * T * d }),
    output: T * d,
    checkpointed: m.checkpoint,
  });
  const embedding = layer("embedding", {
    parameters: (vocab + T) * d,
    splitParameters: vocab * d,
    largestParameter: Math.max(vocab, T) * d,
    // Two lookups and their sum.
    elementwise: 3 * T * d,
    tensorExchanges: 1,
    tensorExchangeSize: T * d,
    kernelCalls: 4,
    parameterTensors: 2,
    parameterUnits: 2,
    // The token ids (the input batch, counted there) are what its backward reads.
    backwardTransient: act({ f32: T * d }),
    output: T * d,
  });
  const untied = m.tiedHead ? 0 : vocab * d;
  const head = layer("head", {
    parameters: 2 * d + untied,
    splitParameters: untied,
    sharedParameters: m.tiedHead ? vocab * d : 0,
    sharedFrom: m.tiedHead ? "embedding" : null,
    largestParameter: Math.max(2 * d, untied),
    lowPrecisionParameters: vocab * d,
    matmulFlops: 2 * T * d * vocab,
    matmulSize: Math.min(d, vocab),
    // The final LayerNorm's rows and the loss's softmax over the vocabulary.
    normalized: T * d + T * vocab,
    // Its input's gradient, summed over the tensor ranks.
    tensorExchanges: 1,
    tensorExchangeSize: T * d,
    kernelCalls: 4,
    parameterTensors: m.tiedHead ? 2 : 3,
    parameterUnits: m.tiedHead ? 1 : 2,
    saved: act({ f32: T * d + 3 * T, compute: T * d, computeSplit: T * vocab }),
    heldToStepEnd: act({ computeSplit: T * vocab }),
    // The logits' gradient (the saved one scaled), then the norm's output gradient.
    backwardTransient: act({ compute: T * d, computeSplit: T * vocab }),
    output: 1,
  });
  return [embedding, ...Array.from({ length: n }, (_, i) => ({ ...block, name: `block ${i}` })), head];
}

/** The mlp as its Sequential: flatten, then Linear and ReLU per hidden width, the Linear head. */
function mlpLayers(m: Extract<Config["model"], { kind: "mlp" }>, inputs: number, classes: number): LayerDescription[] {
  const layers = [layer("flatten", { kernelCalls: 0, output: inputs })];
  let width = inputs;
  for (const [i, out] of [...m.hidden, classes].entries()) {
    const last = i === m.hidden.length;
    layers.push(
      layer(`linear ${i}`, {
        parameters: width * out + out,
        largestParameter: width * out,
        lowPrecisionParameters: width * out,
        matmulFlops: 2 * width * out,
        matmulSize: Math.min(width, out),
        // The bias add; the head's loss normalizes its logits.
        elementwise: out,
        normalized: last ? out : 0,
        parameterTensors: 2,
        parameterUnits: 1,
        // Its input is the previous ReLU's kept output (or the batch); the head's logits are
        // held by the step and the loss keeps their gradient.
        saved: last ? act({ compute: out }) : none,
        heldToStepEnd: last ? act({ compute: out }) : none,
        // Its output's gradient and (past the first layer, whose input is the batch) its input's.
        backwardTransient: act({ f32: out + (i === 0 ? 0 : width) }),
        output: out,
      }),
    );
    if (!last) layers.push(layer(`relu ${i}`, { elementwise: out, saved: act({ compute: out }), backwardTransient: act({ f32: 2 * out }), output: out }));
    width = out;
  }
  return layers;
}

/** The cnn: per channel count a 3×3 convolution with 2×2 max pooling (keeping its input and the pooled argmax codes) and ReLU; then two Linear layers. */
function cnnLayers(m: Extract<Config["model"], { kind: "cnn" }>, input: [number, number, number], classes: number): LayerDescription[] {
  let [c, hgt, wid] = input;
  const layers: LayerDescription[] = [];
  for (const [i, out] of m.channels.entries()) {
    const conv = (hgt - 2) * (wid - 2);
    const inputSize = c * hgt * wid;
    hgt = Math.floor((hgt - 2) / 2);
    wid = Math.floor((wid - 2) / 2);
    const pooled = out * hgt * wid;
    layers.push(
      layer(`conv ${i}`, {
        parameters: out * c * 9 + out,
        largestParameter: out * c * 9,
        lowPrecisionParameters: out * c * 9,
        matmulFlops: 2 * conv * out * c * 9,
        matmulSize: Math.min(out, c * 9),
        // ReLU over the convolution's output, then the pooled output.
        elementwise: conv * out + pooled,
        kernelCalls: 3,
        parameterTensors: 2,
        parameterUnits: 1,
        // The pooled output's argmax codes (int32) and the ReLU's output; the input is the batch
        // or the previous stage's kept output.
        saved: act({ f32: pooled, compute: pooled }),
        // The first takes the batch and pools inside its fused kernel: only the pooled gradients.
        // A later one un-pools into its convolution's size, and the convolution's backward holds
        // that gradient twice (a reordered copy) beside its input's, its own pooled tensors freed.
        backwardTransient: act({ f32: i === 0 ? 2 * pooled : 2 * conv * out + inputSize - 2 * pooled }),
        output: pooled,
      }),
    );
    c = out;
  }
  const flat = c * hgt * wid;
  layers.push(
    layer("fc 0", {
      parameters: flat * m.hidden + m.hidden,
      largestParameter: flat * m.hidden,
      lowPrecisionParameters: flat * m.hidden,
      matmulFlops: 2 * flat * m.hidden,
      matmulSize: Math.min(flat, m.hidden),
      // Bias and ReLU.
      elementwise: 2 * m.hidden,
      kernelCalls: 4,
      parameterTensors: 2,
      parameterUnits: 1,
      saved: act({ compute: flat + m.hidden }),
      backwardTransient: act({ f32: 2 * flat + 2 * m.hidden }),
      output: m.hidden,
    }),
    layer("fc 1", {
      parameters: m.hidden * classes + classes,
      largestParameter: m.hidden * classes,
      lowPrecisionParameters: m.hidden * classes,
      matmulFlops: 2 * m.hidden * classes,
      matmulSize: Math.min(m.hidden, classes),
      elementwise: classes,
      normalized: classes,
      parameterTensors: 2,
      parameterUnits: 1,
      saved: act({ compute: classes }),
      heldToStepEnd: act({ compute: classes }),
      backwardTransient: act({ f32: m.hidden + classes }),
      output: classes,
    }),
  );
  return layers;
}

/** Fashion-MNIST's images and classes, the classifiers' data. */
const IMAGE: [number, number, number] = [1, 28, 28];
const CLASSES = 10;

/**
 * The planner's description of a config's model: its layers' parameters, FLOPs and the
 * activations they keep, computed from the config (and the vocabulary size for the gpt), so a
 * model of billions of parameters is described in microseconds and never allocated.
 *
 * @example
 * const gpt = describeModel({ kind: "gpt", layers: 32, heads: 32, width: 4096, context: 2048, tiedHead: false, dropout: 0, checkpoint: false }, 50304);
 * gpt.parameters   // ≈ 6.87e9
 */
export function describeModel(model: Config["model"], vocab: number): ModelDescription {
  if (!Number.isInteger(vocab) || vocab < 1) throw new RangeError(`describeModel: vocab must be a positive integer, got ${vocab}`);
  switch (model.kind) {
    case "gpt":
      if (model.moe) throw new RangeError("plan: model.moe is not described yet (the planner covers dense gpt, mlp and cnn models)");
      return modelOf("gpt", gptLayers(model, vocab), { inputElements: 2 * model.context, tokensPerSample: model.context, pipelineable: true });
    case "mlp":
      return modelOf("mlp", mlpLayers(model, IMAGE[0] * IMAGE[1] * IMAGE[2], CLASSES), {
        inputElements: IMAGE[0] * IMAGE[1] * IMAGE[2] + 1,
        tokensPerSample: 1,
        pipelineable: true,
      });
    case "cnn":
      return modelOf("cnn", cnnLayers(model, IMAGE, CLASSES), { inputElements: IMAGE[0] * IMAGE[1] * IMAGE[2] + 1, tokensPerSample: 1, pipelineable: false });
  }
}
