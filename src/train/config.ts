import { z } from "zod";

import { WEIGHT_INITS } from "../nn/init.js";
import { COMPRESSION_KINDS } from "../parallel/compression/index.js";
import { augmentField, loaderFields } from "./data_config.js";

/**
 * The run configuration: one schema (zod) validates every config file and `--set` override,
 * and its descriptions are the config reference (`turbine train --help-config`, the README).
 * Unknown or wrong fields are errors that name the field, the value and what is allowed.
 */

const int = (min: number) => z.number().int().min(min);

/** The most OpenMP threads the kernels take (their setNumThreads refuses more). */
export const MAX_KERNEL_THREADS = 1024;
const positive = () => z.number().positive();
const weightInit = z
  .enum(WEIGHT_INITS as [string, ...string[]])
  .default("default")
  .describe("weight initialisation of the Linear and Conv2d layers");

const mlpModel = z
  .strictObject({
    kind: z.literal("mlp").describe("a multi-layer perceptron: flatten, Linear+ReLU per hidden width, Linear head"),
    hidden: z.array(int(1)).min(1).default([1024, 1024]).describe("widths of the hidden layers"),
    init: weightInit,
  })
  .describe("mlp");

const cnnModel = z
  .strictObject({
    kind: z.literal("cnn").describe("3×3 convolutions, each with ReLU and 2×2 max pooling, then two Linear layers"),
    channels: z.array(int(1)).min(1).default([32, 64]).describe("output channels of each convolution"),
    hidden: int(1).default(128).describe("width of the hidden Linear layer"),
    init: weightInit,
  })
  .describe("cnn");

const gptModel = z
  .strictObject({
    kind: z.literal("gpt").describe("a decoder-only transformer: pre-LayerNorm blocks of causal self-attention and a GELU MLP ×4"),
    layers: int(1).default(4).describe("transformer blocks"),
    heads: int(1).default(4).describe("attention heads per block (width must be a multiple)"),
    width: int(1).default(256).describe("embedding width"),
    headDim: int(1)
      .optional()
      .describe("width of each attention head (default width / heads); set by structured pruning, which removes heads and keeps their width"),
    context: int(1).default(128).describe("context length in tokens (training windows and position embeddings)"),
    tiedHead: z.boolean().default(true).describe("share the token embedding with the output head"),
    dropout: z.number().min(0).lt(1).default(0).describe("dropout after attention, MLP and embeddings"),
    checkpoint: z
      .boolean()
      .default(false)
      .describe("activation checkpointing: recompute each block's activations in backward instead of keeping them (less memory, one more forward of compute)"),
    moe: z
      .strictObject({
        experts: int(1).describe("expert MLPs per block (each as wide as the dense MLP)"),
        topK: int(1).default(1).describe("experts each token goes to: the k highest router probabilities (1: Switch, 2: GShard); at most experts"),
        capacityFactor: z
          .number()
          .positive()
          .default(1.25)
          .describe("each expert takes at most ceil(capacityFactor · tokens · topK / experts) tokens of a batch"),
        drop: z
          .boolean()
          .default(true)
          .describe("true: a token past its expert's capacity skips that expert (the residual carries it); false: no capacity limit"),
        auxLossWeight: z.number().min(0).default(0.01).describe("weight of the Switch load-balancing loss added to the training loss, per block"),
      })
      .optional()
      .describe("mixture of experts: replace every block's MLP by `experts` MLPs and a top-k softmax router (absent: dense MLP)"),
  })
  .describe("gpt");

const seqLenWarmup = z
  .strictObject({
    start: int(1).describe("context length of the first step (at most model.context)"),
    steps: int(1).describe("steps over which the context grows to model.context"),
    pacing: z.enum(["linear", "root", "step"]).default("linear").describe("how the length grows: linear, root (fast then slow) or in 4 steps"),
    multiple: int(1).default(8).describe("lengths are rounded down to a multiple of this (never below start)"),
  })
  .describe("sequence-length warm-up: short training windows first (evaluation keeps the full context)");

const text = z
  .strictObject({
    kind: z.literal("text").describe("a character-level corpus: the King James Bible (Debian's bible-kjv) or any UTF-8 file"),
    path: z.string().optional().describe("a UTF-8 text file (default: the KJV text, extracted once and cached)"),
    batchSize: int(1).default(32).describe("windows per training batch"),
    batchesPerEpoch: int(1).optional().describe("batches per epoch of random windows (default: about one pass over the training text)"),
    valBatches: int(1).default(20).describe("fixed validation batches averaged for the validation loss"),
    trainFraction: z.number().gt(0).lt(1).default(0.9).describe("leading share of the text used for training; the rest validates"),
    seqLenWarmup: seqLenWarmup.optional(),
    ...loaderFields,
  })
  .describe("text");

const tokens = z
  .strictObject({
    kind: z.literal("tokens").describe("a token file made by `turbine data prepare`, read from disk a window at a time (corpora larger than memory)"),
    path: z.string().min(1).describe("the token file"),
    batchSize: int(1).default(32).describe("windows per training batch"),
    batchesPerEpoch: int(1).optional().describe("batches per epoch of random windows (default: about one pass over the training tokens)"),
    valBatches: int(1).default(20).describe("fixed validation batches averaged for the validation loss"),
    trainFraction: z.number().gt(0).lt(1).default(0.9).describe("leading share of the tokens used for training; the rest validates"),
    seqLenWarmup: seqLenWarmup.optional(),
  })
  .describe("tokens");

const fashionMnist = z
  .strictObject({
    kind: z.literal("fashion-mnist").describe("Fashion-MNIST from Debian's dataset-fashion-mnist (IDX files)"),
    root: z.string().optional().describe("folder of the IDX .gz files (default: the Debian package's)"),
    batchSize: int(1).default(128).describe("training batch size"),
    evalBatchSize: int(1).default(1000).describe("evaluation batch size"),
    shuffle: z.boolean().default(true).describe("reshuffle the training set every epoch (seeded)"),
    curriculum: z
      .strictObject({
        scores: z.string().min(1).describe("JSON file: an array of one difficulty score per training sample, lower is easier"),
        pacing: z.enum(["linear", "root", "step"]).default("linear").describe("how the pool of admitted easiest samples grows"),
        start: z.number().gt(0).max(1).default(0.2).describe("share of the training set admitted at first"),
        steps: int(1).describe("epochs (or steps, with per: step) until the whole training set is admitted"),
        per: z.enum(["epoch", "step"]).default("epoch").describe("whether the pool grows once per epoch or once per optimizer step"),
      })
      .optional()
      .describe("curriculum learning: train on the easiest samples first (replaces shuffle)"),
    cache: z
      .enum(["memory", "disk", "none"])
      .default("memory")
      .describe(
        "keep the decoded images in memory for this process, also on disk ($TURBINE_CACHE, else $XDG_CACHE_HOME/turbine or ~/.cache/turbine) for later runs, or decode every time",
      ),
    ...loaderFields,
    augment: augmentField,
  })
  .describe("fashion-mnist");

const optimizer = z
  .strictObject({
    kind: z
      .enum(["sgd", "adam", "adamw", "lamb", "lion", "muon", "onebitadam"])
      .default("adamw")
      .describe(
        "the optimizer: lamb (Adam direction scaled per tensor by ‖w‖/‖update‖, for large batches), lion (sign of interpolated momentum, one state buffer; lr 3–10× below AdamW's), muon (orthogonalised momentum for hidden matrices, by Newton–Schulz in bf16 under bf16 autocast; AdamW for embeddings, the output head, biases and norms), onebitadam (1-bit Adam: AdamW for freezeStep steps, then the variance frozen and the momentum averaged over the ranks as signs and scales, about 32× fewer bytes; data parallel, zero 0); lamb and muon need whole parameters: under parallel.zero ≥ 1 the ranks share their norms and matrices, with parallel.tensor > 1 they are refused",
      ),
    lr: positive().default(1e-3).describe("peak learning rate (muon: of the orthogonalised matrices, e.g. 0.02)"),
    weightDecay: z
      .number()
      .min(0)
      .optional()
      .describe(
        "weight decay (AdamW, Lion, Muon: decoupled, defaults 0.01, 0, 0; LAMB: added to the update before the trust ratio, default 0.01; Adam and SGD: L2, default 0)",
      ),
    betas: z
      .tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)])
      .optional()
      .describe("betas of Adam/AdamW/LAMB (default [0.9, 0.999]), Lion (default [0.9, 0.99]) and Muon's AdamW part (default [0.9, 0.95])"),
    eps: positive().optional().describe("epsilon of Adam/AdamW (default 1e-8), LAMB (default 1e-6) and Muon's AdamW part (default 1e-10)"),
    momentum: z.number().min(0).optional().describe("SGD momentum (default 0); Muon momentum, below 1 (default 0.95)"),
    dampening: z.number().min(0).max(1).optional().describe("SGD dampening (default 0)"),
    nesterov: z.boolean().optional().describe("Nesterov momentum: SGD (default false), Muon (default true)"),
    adamLr: positive().optional().describe("Muon: peak learning rate of the parameters it hands to AdamW (default 3e-4)"),
    freezeStep: int(1)
      .optional()
      .describe(
        "onebitadam: steps of plain AdamW (full-precision gradient all-reduce) before the variance freezes and the momentum is compressed (default 100)",
      ),
    decayOn: z
      .enum(["all", "matrices"])
      .default("all")
      .describe("parameters that get weight decay: all, or only matrices (weights of rank ≥ 2, nanoGPT's rule)"),
  })
  .superRefine((o, ctx) => {
    if (o.kind === "muon" && o.momentum !== undefined && o.momentum >= 1) {
      ctx.addIssue({ code: "custom", path: ["momentum"], message: `Muon's momentum must be below 1, got ${o.momentum}` });
    }
    if (o.kind !== "onebitadam" && o.freezeStep !== undefined) {
      ctx.addIssue({ code: "custom", path: ["freezeStep"], message: `freezeStep is onebitadam's only; optimizer.kind is ${o.kind}` });
    }
    if (o.kind !== "muon" && o.adamLr !== undefined) {
      ctx.addIssue({ code: "custom", path: ["adamLr"], message: `adamLr is Muon's only; optimizer.kind is ${o.kind}` });
    }
  })
  .default({ kind: "adamw", lr: 1e-3, decayOn: "all" })
  .describe("optimizer");

const schedule = z
  .strictObject({
    warmup: int(0).default(0).describe("linear warm-up steps: lr·(step+1)/warmup"),
    decay: z.enum(["constant", "cosine", "linear", "step", "wsd"]).default("constant").describe("what follows the warm-up, over the rest of the run"),
    floor: z.number().min(0).max(1).default(0).describe("final learning rate as a fraction of the peak (cosine, linear, wsd)"),
    stepSize: int(1).default(1000).describe("steps between decays (decay: step)"),
    gamma: z.number().positive().default(0.1).describe("factor per decay (decay: step)"),
    decayFraction: z.number().gt(0).max(1).default(0.2).describe("share of the run spent decaying (decay: wsd)"),
  })
  .default({ warmup: 0, decay: "constant", floor: 0, stepSize: 1000, gamma: 0.1, decayFraction: 0.2 })
  .describe("schedule");

const earlyStopping = z
  .strictObject({
    metric: z.enum(["loss", "accuracy"]).default("loss").describe("evaluation metric watched"),
    mode: z.enum(["min", "max"]).default("min").describe("whether lower or higher is better"),
    patience: int(1).default(3).describe("evaluations without improvement before stopping"),
    minDelta: z.number().min(0).default(0).describe("smallest change that counts as an improvement"),
  })
  .describe("earlyStopping");

const lossScale = z
  .strictObject({
    initScale: positive()
      .default(2 ** 16)
      .describe("starting loss scale"),
    growthFactor: z.number().gt(1).default(2).describe("factor on the scale after growthInterval steps without inf/NaN gradients"),
    backoffFactor: z.number().gt(0).lt(1).default(0.5).describe("factor on the scale after a step with inf/NaN gradients (the step is skipped)"),
    growthInterval: int(1).default(2000).describe("clean steps in a row before the scale grows"),
  })
  .describe("lossScale");

const train = z
  .strictObject({
    epochs: int(1).optional().describe("passes over the training set (default 1 when steps is not set)"),
    steps: int(1).optional().describe("optimizer steps; overrides epochs"),
    accumulate: int(1).default(1).describe("gradient accumulation: micro-batches (of data.batchSize) per optimizer step, each loss weighted 1/accumulate"),
    clipGradNorm: positive().nullable().default(null).describe("clip the global gradient norm to this (null: no clipping)"),
    seed: int(0).default(0).describe("seed of initialisation, shuffling and dropout"),
    threads: int(1).max(MAX_KERNEL_THREADS).optional().describe(`OpenMP threads of the kernels, 1 to ${MAX_KERNEL_THREADS} (default: all cores)`),
    logEvery: int(1).default(50).describe("steps between metric lines"),
    evalEvery: int(1).nullable().default(null).describe("steps between evaluations (null: at the end of every epoch)"),
    earlyStopping: earlyStopping.optional(),
    precision: z
      .enum(["float32", "bfloat16", "float16"])
      .default("float32")
      .describe("autocast dtype of matmul, convolution and attention (weights, optimizer state, norms and losses stay float32)"),
    lossScale: lossScale.optional().describe("dynamic loss scaling (GradScaler) settings; float16 always scales, with these or the defaults"),
    compile: z
      .boolean()
      .default(false)
      .describe(
        "compile each whole step (forward, backward, the optimizer's part): recorded on the first two steps of each batch shape, then replayed as a flat list of kernel calls over one planned arena, natively where it can (one process and ddp)",
      ),
    compileCacheSize: int(1)
      .default(8)
      .describe("most batch shapes compiled (a sequence-length warm-up makes several); steps of further shapes run eagerly, with one message"),
  })
  .default({ accumulate: 1, clipGradNorm: null, seed: 0, logEvery: 50, evalEvery: null, precision: "float32", compile: false, compileCacheSize: 8 })
  .describe("train");

const checkpoint = z
  .strictObject({
    every: int(1).nullable().default(null).describe("steps between checkpoints (null: only at the end)"),
    keep: int(1).default(3).describe("how many recent checkpoints are kept"),
    atEnd: z.boolean().default(true).describe("save a checkpoint when training ends"),
  })
  .default({ every: null, keep: 3, atEnd: true })
  .describe("checkpoint");

const logging = z
  .strictObject({
    tensorboard: z
      .boolean()
      .default(false)
      .describe(
        "also write TensorBoard event files (events.out.tfevents.*) to the run folder: train loss, learning rate, throughput and gradient norm per step, evaluation loss and accuracy",
      ),
  })
  .default({ tensorboard: false })
  .describe("logging");

const parallel = z
  .strictObject({
    data: int(1).optional().describe("data-parallel degree (default: ranks / (tensor × pipeline)); data × tensor × pipeline must be the number of ranks"),
    tensor: int(1)
      .default(1)
      .describe(
        "tensor-parallel degree: the gpt's attention heads, MLP and vocabulary split across this many neighbouring ranks (Megatron style); heads and the vocabulary's padding follow it",
      ),
    sequenceParallel: z
      .boolean()
      .default(false)
      .describe(
        "tensor parallel: also split the LayerNorm and dropout regions along the tokens (batchSize × context must divide by tensor); saves activation memory",
      ),
    pipeline: int(1).default(1).describe("pipeline stages: the model's layers cut into this many consecutive parts, one per rank"),
    expert: int(1).default(1).describe("expert-parallel degree for mixture-of-experts layers (groups of this many data ranks; divides data)"),
    microBatches: int(1)
      .default(1)
      .describe("pipeline: micro-batches each batch is split into (it must divide data.batchSize); more of them shrink the bubble"),
    schedule: z
      .enum(["gpipe", "1f1b", "interleaved"])
      .default("1f1b")
      .describe(
        "pipeline schedule: gpipe (all forwards, then all backwards), 1f1b (at most pipeline micro-batches in flight) or interleaved (virtualStages chunks per rank)",
      ),
    virtualStages: int(1).default(2).describe("interleaved schedule: model chunks per rank (the layers are cut into pipeline × virtualStages parts)"),
    stageLayers: z
      .array(int(1))
      .optional()
      .describe("pipeline: layers of each part, by hand (one entry per stage, or per chunk when interleaved); default: balanced by measured cost"),
    zero: z
      .literal([0, 1, 2, 3])
      .default(0)
      .describe(
        "ZeRO stage under turbine launch: 0 = data parallel (DDP, every rank holds everything); 1 = optimizer state and f32 master weights sharded across the ranks; 2 = gradients sharded too (reduce-scattered during backward); 3 = parameters sharded too (each module's gathered just before its forward and again before its backward, freed after each; as bf16 under bf16 autocast)",
      ),
    offload: z
      .enum(["none", "disk"])
      .default("none")
      .describe(
        "where AdamW's two moments live: none (memory) or disk (a file per rank in the run folder's offload/, removed at exit, each parameter's moments read ahead while the previous one updates): the same updates bitwise for 8 bytes less memory per parameter; with train.precision bfloat16 on one process or DDP also the f32 master weights of the Linear layers, which compute with their resident bf16 copies (4 bytes less each)",
      ),
    hierarchical: z
      .boolean()
      .optional()
      .describe(
        "data parallel's all-reduce by machine: reduce-scatter among a machine's ranks, all-reduce of each chunk across machines, all-gather inside (each machine's link carries the gradients once); default: on when ranks share machines and there are several (same number of ranks on each)",
      ),
    compression: z
      .strictObject({
        kind: z
          .enum(COMPRESSION_KINDS)
          .default("none")
          .describe(
            "gradient compression of data parallel (DDP, zero 0) as a communication hook: none (plain all-reduce), bf16 (sent at half precision), topk (the largest entries, with error feedback), powersgd (rank-r factors, error feedback, warm start) or onebit (signs and one scale per bucket, with error feedback)",
          ),
        ratio: z.number().gt(0).max(1).default(0.01).describe("topk: the fraction of each bucket's entries each rank sends (0.01: 1%)"),
        rank: int(1).default(4).describe("powersgd: the rank of each gradient matrix's factors (lower sends less)"),
      })
      .default({ kind: "none", ratio: 0.01, rank: 4 })
      .describe("compression"),
    mode: z
      .enum(["collective", "ps"])
      .default("collective")
      .describe(
        "how the ranks combine their gradients: collective (all-reduce: DDP, ZeRO and the model-parallel layouts) or ps (a parameter server: the last parallel.servers ranks hold the parameters and the optimizer state, the other ranks train and push gradients / pull parameters, bounded by parallel.staleness; data parallel only, on the threads backend)",
      ),
    servers: int(1)
      .default(1)
      .describe("parallel.mode ps: ranks that serve the parameters (the last ones; each holds whole parameters, balanced by size); the other ranks train"),
    staleness: z
      .union([int(0), z.literal("inf")])
      .default(0)
      .describe(
        'parallel.mode ps: how many steps a worker may run ahead of the slowest worker still training: 0 = synchronous (one step per clock on the mean gradient, the same as data parallel), k = stale-synchronous (each gradient applied as it arrives), "inf" = fully asynchronous',
      ),
  })
  .default({
    tensor: 1,
    sequenceParallel: false,
    pipeline: 1,
    expert: 1,
    microBatches: 1,
    schedule: "1f1b",
    virtualStages: 2,
    zero: 0,
    offload: "none",
    compression: { kind: "none", ratio: 0.01, rank: 4 },
    mode: "collective",
    servers: 1,
    staleness: 0,
  })
  .describe("parallel");

const distill = z
  .strictObject({
    teacher: z
      .string()
      .min(1)
      .describe(
        "a trained run of the same task (mlp/cnn on Fashion-MNIST, or a gpt on the same text): its run folder, checkpoints/ folder or one checkpoint; its newest verified checkpoint teaches",
      ),
    temperature: positive().default(2).describe("softens the teacher's and the student's distributions (logits / temperature)"),
    alpha: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe("weight of the distillation term: loss = alpha · T² · KL(teacher ‖ student) + (1 − alpha) · the label loss"),
  })
  .optional()
  .describe(
    "knowledge distillation: the model trains as a student of a teacher's softened outputs (the teacher runs without gradients, under the same precision)",
  );

const prune = z
  .strictObject({
    kind: z
      .enum(["magnitude", "nm"])
      .describe(
        "magnitude: zero the smallest-magnitude weights of the Linear and Conv2d layers, gradually (masks); nm: keep n of every m consecutive input weights (2:4 as NVIDIA ASP), from schedule.start on; structured pruning, which rebuilds the layers smaller, is `turbine prune`",
      ),
    sparsity: z.number().min(0).lt(1).default(0.5).describe("final share of the weights pruned (magnitude)"),
    scope: z
      .enum(["global", "layer"])
      .default("layer")
      .describe("magnitude: every weight pruned to the same sparsity (layer) or the smallest over all weights together (global)"),
    n: int(1).default(2).describe("nm: weights kept in each group of m"),
    m: int(1).default(4).describe("nm: group size along the input dimension (weights whose input dimension is not a multiple stay dense)"),
    schedule: z
      .strictObject({
        start: int(0).default(0).describe("step (optimizer steps done) of the first mask; nothing is pruned before it"),
        end: int(0).describe("step at which the final sparsity is reached"),
        every: int(1).default(100).describe("steps between mask updates, Zhu & Gupta's Δt: s_t = s_f·(1 − (1 − (t − start)/(end − start))³)"),
      })
      .superRefine((s, ctx) => {
        if (s.end < s.start) ctx.addIssue({ code: "custom", path: ["end"], message: `end ${s.end} is before start ${s.start}` });
      })
      .describe("when masks are computed"),
  })
  .superRefine((p, ctx) => {
    if (p.n >= p.m) ctx.addIssue({ code: "custom", path: ["n"], message: `n ${p.n} must be below m ${p.m}` });
  })
  .optional()
  .describe(
    "pruning during training: masks (magnitude, nm) that keep pruned weights at zero (structured pruning that makes the model smaller: `turbine prune`)",
  );
const federated = z
  .strictObject({
    clients: int(1).default(10).describe("clients the training set is split over (each one model, trained on its own samples only)"),
    rounds: int(1).default(50).describe("communication rounds: the server sends the global model, the selected clients train, it averages what they return"),
    localSteps: int(1).optional().describe("local SGD steps (of data.batchSize samples) per selected client and round; give this or localEpochs"),
    localEpochs: int(1).optional().describe("local passes over a client's own samples per round (default 1 when localSteps is not given)"),
    fraction: z.number().gt(0).max(1).default(0.1).describe("share of the clients selected each round (at least one)"),
    algorithm: z
      .enum(["fedavg", "fedprox"])
      .default("fedavg")
      .describe(
        "fedavg (McMahan et al.: the returned models averaged by sample count) or fedprox (the same, local training pulled to the global model by mu/2 · ‖w − w_global‖²)",
      ),
    mu: z.number().min(0).default(0.01).describe("fedprox: the proximal term's weight"),
    partition: z
      .enum(["iid", "dirichlet", "shards"])
      .default("iid")
      .describe(
        "how the training set is split: iid (shuffled, equal), dirichlet (per class, proportions from Dirichlet(alpha)) or shards (sorted by label, cut into clients × shardsPerClient shards, shardsPerClient each, as in the FedAvg paper)",
      ),
    alpha: positive().default(0.5).describe("partition dirichlet: concentration (small: each client sees few classes)"),
    shardsPerClient: int(1).default(2).describe("partition shards: shards per client (2: most clients see two classes)"),
    stragglers: z.number().min(0).max(1).default(0).describe("share of each round's selected clients that run only a random 1..all of their local steps"),
    stragglerWork: z
      .enum(["keep", "drop"])
      .optional()
      .describe(
        "what the server does with a straggler's partial work: keep it or drop the client (default: keep under fedprox, drop under fedavg, as in the FedProx paper)",
      ),
    dropped: z.number().min(0).max(1).default(0).describe("share of each round's selected clients that drop out and send nothing"),
    threads: int(1).max(256).default(1).describe("worker threads the round's clients are spread over (each holds one model and the data)"),
  })
  .refine((f) => f.localSteps === undefined || f.localEpochs === undefined, { message: "give localSteps or localEpochs, not both", path: ["localSteps"] })
  .optional()
  .describe(
    "federated training (turbine federated): clients, rounds, local work, selection, partition, stragglers; needs the fashion-mnist data and an mlp or cnn",
  );

export const configSchema = z
  .strictObject({
    name: z.string().min(1).optional().describe("run name (default: the model kind); each run writes a new folder <outDir>/<name>/version_N"),
    outDir: z.string().default("runs").describe("folder for runs: <name>/version_N/ holds each run's metrics.jsonl, checkpoints/ and config.json"),
    model: z.discriminatedUnion("kind", [mlpModel, cnnModel, gptModel]).describe("model"),
    data: z.discriminatedUnion("kind", [fashionMnist, text, tokens]).describe("data"),
    optimizer,
    schedule,
    train,
    checkpoint,
    logging,
    parallel,
    distill,
    prune,
    federated,
  })
  .describe("config");

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** The built-in default run of `turbine train`: the cnn on Fashion-MNIST, a few epochs. */
export const DEFAULT_CONFIG: ConfigInput = {
  model: { kind: "cnn" },
  data: { kind: "fashion-mnist", batchSize: 128 },
  optimizer: { kind: "adamw", lr: 2e-3 },
  schedule: { warmup: 100, decay: "cosine", floor: 0.1 },
  train: { epochs: 4, clipGradNorm: 1.0, logEvery: 50 },
};
