import { z } from "zod";

import { COMPRESSION_KINDS, COMPRESSION_TARGETS } from "../parallel/compression/index.js";
import { int } from "./config_fields.js";

/** The config's `parallel` section: the layout of the ranks (data, tensor, pipeline, expert, ZeRO, parameter server) and the gradients' communication. */

/** The `parallel` section: how the ranks split the work and combine their gradients. @example parallelSection.parse({ zero: 1 }) */
export const parallelSection = z
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
      .describe(
        "pipeline: micro-batches each batch is split into (at most data.batchSize; as even as the rows allow, and a short last batch into fewer); more of them shrink the bubble",
      ),
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
        "ZeRO stage under turbine launch: 0 = data parallel (DDP, every rank holds everything); 1 = optimizer state and f32 master weights sharded across the ranks; 2 = gradients sharded too (reduce-scattered during backward); 3 = parameters sharded too (each module's gathered just before its forward and again before its backward, freed after each; as bf16 under bf16 autocast); with parallel.pipeline > 1 only 0 or 1 (each stage's state sharded across its data ranks)",
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
        warmupSteps: int(0)
          .default(0)
          .describe(
            "optimizer steps averaged uncompressed before the compressor takes over (PyTorch's start_powerSGD_iter, deep gradient compression's warm-up; with target momentum, the steps before Adam's variance freezes, at least 1); their bytes count in comm_bytes",
          ),
        target: z
          .enum(COMPRESSION_TARGETS)
          .default("gradient")
          .describe(
            "what is compressed: gradient (DDP's buckets, through the hook) or momentum (1-bit Adam's scheme with this compressor, for optimizer adamw: plain AdamW for warmupSteps steps, then the variance frozen and each rank's momentum of its own gradients averaged through the compressor with error feedback; the gradient compressors lose accuracy under Adam, whose per-coordinate normalisation undoes what error feedback holds back)",
          ),
      })
      .superRefine((c, ctx) => {
        if (c.target !== "momentum") return;
        if (c.kind === "none")
          ctx.addIssue({ code: "custom", path: ["kind"], message: 'target "momentum" needs a compressor (bf16, topk, powersgd or onebit); kind is "none"' });
        if (c.warmupSteps < 1)
          ctx.addIssue({
            code: "custom",
            path: ["warmupSteps"],
            message: 'target "momentum" needs warmupSteps ≥ 1: the steps of plain AdamW that estimate the variance it then freezes',
          });
      })
      .default({ kind: "none", ratio: 0.01, rank: 4, warmupSteps: 0, target: "gradient" })
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
    compression: { kind: "none", ratio: 0.01, rank: 4, warmupSteps: 0, target: "gradient" },
    mode: "collective",
    servers: 1,
    staleness: 0,
  })
  .describe("parallel");
