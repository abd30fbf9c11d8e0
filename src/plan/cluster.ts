import { readFileSync } from "node:fs";

import { parse as parseYaml } from "yaml";
import { z } from "zod";

import { ConfigError } from "../train/config_file.js";

/** A link's latency-bandwidth model: a message of b bytes takes latency + b / bandwidth seconds. */
export interface Link {
  /** Seconds per message. */
  latency: number;
  /** Bytes per second. */
  bandwidth: number;
}

/**
 * What the time model needs of the machine a rank runs on: its kernels' throughput per
 * precision and its links. From a cluster file (machines you do not have) or from this
 * machine's calibration.
 */
export interface Machine {
  /** Where the figures come from, for the explanation ("cluster.yaml", "calibrated on AMD EPYC …"). */
  source: string;
  nodes: number;
  devicesPerNode: number;
  /** Bytes of memory per device (rank), when the description has it. */
  memoryPerDevice: number | null;
  /** FLOP/s of one rank's matrix products by compute precision and the products' inner size (the model's width), in forward. */
  matmulFlops(precision: Precision, size: number): number;
  /** Seconds of a matrix product's backward (its input's and its weight's gradients) per second of its forward: 2 at an even rate. */
  matmulBackward: number;
  /** FLOP/s of one rank's fused attention forward by compute precision and context length (short contexts run below the peak rate). */
  attentionFlops(precision: Precision, context: number): number;
  /** Seconds of attention's backward per second of its forward: 2 at an even rate. */
  attentionBackward: number;
  /** Output elements per second of one rank's element-wise kernels: forward alone, and forward with its backward. */
  elementwise: PassRates;
  /** Elements per second of one rank's row normalizations (LayerNorm, softmax): forward alone, and forward with backward. */
  normalization: PassRates;
  /** Parameter elements per second of one rank's fused AdamW step. */
  optimizerRate: number;
  /** Seconds per parameter tensor of the optimizer step beyond its elements (its calls, its state's bookkeeping). */
  optimizerCall: number;
  /** Gradient clipping (the norm and the scaling): elements per second, and seconds per gradient tensor. */
  clipRate: number;
  clipCall: number;
  /** Seconds of framework overhead per kernel call in forward (dispatch). */
  kernelCall: number;
  /** Seconds of framework overhead per op in training: its forward call, its autograd node and backward's call. */
  autogradCall: number;
  /** Seconds per ZeRO-3 unit and accumulation step beyond its bytes: its two gathers' and its reduce-scatter's framework cost. */
  zero3Unit: number;
  /** Bytes per second a rank's offload file reads and writes. */
  diskBandwidth: number;
  /**
   * Seconds a rank waits at a collective inside forward or backward (tensor parallelism's
   * all-reduces, the pipeline's hand-overs) beyond the link's time: its peer arrives later by
   * its own jitter (a pause for garbage collection, a preemption), and the step waits for both.
   */
  collectiveWait: number;
  /** The same for ZeRO-3's all-gathers, whose prefetch (the next unit's gather issued before it is needed) absorbs part of it. */
  gatherWait: number;
  /** Between ranks of one node, and between nodes. */
  intraNode: Link;
  interNode: Link;
}

export type Precision = "float32" | "bfloat16" | "float16";

/** Elements per second of a kernel class's forward alone and of its forward with its backward. */
export interface PassRates {
  forward: number;
  training: number;
}

const positive = () => z.number().positive();
const link = z
  .strictObject({
    bandwidth: positive().describe("bytes per second one rank sends over it"),
    latency: z.number().min(0).describe("seconds per message"),
  })
  .describe("a link: latency + bytes / bandwidth per message");

/** The `--cluster` file: nodes, devices, memory, peak FLOP/s per precision, links. */
export const clusterSchema = z
  .strictObject({
    nodes: z.number().int().min(1).describe("machines"),
    devicesPerNode: z.number().int().min(1).describe("ranks per machine (GPUs, or CPU sockets)"),
    memoryPerDevice: positive().describe("bytes of memory per device"),
    flops: z
      .strictObject({ float32: positive(), bfloat16: positive().optional(), float16: positive().optional() })
      .describe("peak FLOP/s of one device's matrix products per precision (bfloat16 and float16 default to float32's)"),
    efficiency: z.number().gt(0).max(1).default(0.5).describe("share of the peak FLOP/s training's matrix products reach"),
    memoryBandwidth: positive().default(1e12).describe("bytes per second of one device's memory (element-wise kernels, the optimizer step)"),
    kernelCall: z.number().min(0).default(1e-5).describe("seconds of overhead per kernel call"),
    diskBandwidth: positive().default(1e9).describe("bytes per second of a rank's offload file"),
    intraNode: link.describe("between devices of one node"),
    interNode: link.optional().describe("between nodes (required when nodes > 1)"),
  })
  .superRefine((c, ctx) => {
    if (c.nodes > 1 && !c.interNode) ctx.addIssue({ code: "custom", path: ["interNode"], message: `is required with nodes ${c.nodes}` });
  });

export type ClusterDescription = z.output<typeof clusterSchema>;

/** Bytes per element of a float dtype as the element-wise kernels stream it. */
const ELEMENT_BYTES = 4;
/** Bytes AdamW reads and writes per parameter element: parameter, gradient, two moments read, three written. */
const ADAMW_BYTES = 7 * 4;
/**
 * Elements each kernel class reads and writes per output element. Element-wise: forward reads
 * two and writes one (a residual add), backward reads the output's gradient and writes the
 * inputs'. Normalization: forward reads the row twice (statistics, then the normalized output)
 * and writes it, backward reads the input, the output's gradient and the statistics' reductions
 * twice and writes the input's gradient.
 */
const ELEMENTWISE_ACCESSES = { forward: 3, training: 6 };
const NORMALIZATION_ACCESSES = { forward: 3, training: 8 };
/** Gradient clipping reads every gradient for the norm, then reads and writes it to scale. */
const CLIP_BYTES = 3 * 4;

/**
 * A cluster file's machine. The file is YAML (or JSON, which YAML reads); a bad one is a ConfigError naming the
 * file, the field and what is allowed.
 *
 * @example const machine = loadCluster("cluster.yaml");   // nodes: 4, devicesPerNode: 8, …
 */
export function loadCluster(path: string): Machine {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`plan: --cluster ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`plan: --cluster ${path}: not YAML or JSON (${(error as Error).message.split("\n")[0]})`);
  }
  const parsed = clusterSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join(".") || "(the file)";
    throw new ConfigError(`plan: --cluster ${path}: ${field}: ${issue.message}`);
  }
  return clusterMachine(parsed.data, path);
}

/** A kernel class's rates when memory bandwidth bounds it: bytes per second over the bytes each output element moves. */
const passRates = (bandwidth: number, accesses: { forward: number; training: number }): PassRates => ({
  forward: bandwidth / (accesses.forward * ELEMENT_BYTES),
  training: bandwidth / (accesses.training * ELEMENT_BYTES),
});

/** The machine a validated cluster description stands for. @example clusterMachine(clusterSchema.parse(raw), "cluster.yaml") */
export function clusterMachine(c: ClusterDescription, source: string): Machine {
  const peak = (p: Precision): number => (p === "float32" ? c.flops.float32 : (c.flops[p] ?? c.flops.float32));
  return {
    source,
    nodes: c.nodes,
    devicesPerNode: c.devicesPerNode,
    memoryPerDevice: c.memoryPerDevice,
    matmulFlops: (p) => c.efficiency * peak(p),
    matmulBackward: 2,
    attentionFlops: (p) => c.efficiency * peak(p),
    attentionBackward: 2,
    elementwise: passRates(c.memoryBandwidth, ELEMENTWISE_ACCESSES),
    normalization: passRates(c.memoryBandwidth, NORMALIZATION_ACCESSES),
    optimizerRate: c.memoryBandwidth / ADAMW_BYTES,
    optimizerCall: c.kernelCall,
    clipRate: c.memoryBandwidth / CLIP_BYTES,
    clipCall: c.kernelCall,
    kernelCall: c.kernelCall,
    // A forward call and backward's node, which runs a call or two.
    autogradCall: 3 * c.kernelCall,
    // Two gathers and a reduce-scatter, a call each.
    zero3Unit: 3 * c.kernelCall,
    diskBandwidth: c.diskBandwidth,
    // A cluster file states no jitter: its links' latency stands for it.
    collectiveWait: 0,
    gatherWait: 0,
    intraNode: c.intraNode,
    interNode: c.interNode ?? c.intraNode,
  };
}
