import type { Config } from "../train/config.js";
import type { Link, Machine, Precision } from "./cluster.js";
import type { Layout } from "./layouts.js";
import type { LayerDescription, ModelDescription } from "./model_description.js";
import { pipelineShape, type StageShape } from "./pipeline_shape.js";
import { computeBytes, rankParameters } from "./rank_memory.js";

/** A layout's predicted optimizer-step time in seconds, by what it is spent on. */
export interface StepTime {
  /** Forward and backward (and checkpointing's recomputation) on the slowest pipeline rank, all accumulation steps. */
  compute: number;
  /** The pipeline's idle share of the step on that rank (its bubble). */
  bubble: number;
  /** Tensor parallelism's all-reduces of activations. */
  tensorComm: number;
  /** Activations and their gradients between pipeline stages. */
  pipelineComm: number;
  /** Gradient averaging over the data ranks (DDP's all-reduce; ZeRO's reduce-scatters and all-gathers). */
  dataComm: number;
  /** Gradient clipping and the optimizer step (with offload: the slower of its kernel and its file traffic). */
  optimizer: number;
  total: number;
}

/** Seconds of a ring all-reduce of `bytes` over `n` ranks: 2(n − 1) messages of bytes/n. */
export const allReduceSeconds = (n: number, bytes: number, link: Link): number => (n === 1 ? 0 : 2 * (n - 1) * (link.latency + bytes / (n * link.bandwidth)));

/** Seconds of a ring reduce-scatter or all-gather of `bytes` (the whole tensor) over `n` ranks. */
export const gatherSeconds = (n: number, bytes: number, link: Link): number => (n === 1 ? 0 : (n - 1) * (link.latency + bytes / (n * link.bandwidth)));

/**
 * Gradient buckets of DDP and of ZeRO-1/2 for `bytes` of gradients: a first one of 1 MiB (so
 * communication starts early in backward), then up to 25 MiB each (turbine's defaults, PyTorch's).
 *
 * @example bucketCount(3.2e6)   // 2
 */
export function bucketCount(bytes: number): number {
  const [first, cap] = [2 ** 20, 25 * 2 ** 20];
  return bytes <= first ? 1 : 1 + Math.ceil((bytes - first) / cap);
}

/** The link a group of ranks uses: one node's when the group's span of consecutive ranks fits on a node. */
function linkFor(span: number, machine: Machine): Link {
  return span <= machine.devicesPerNode ? machine.intraNode : machine.interNode;
}

/** What a stage's costs depend on besides its layers: a rank's samples per accumulation step in `microBatches` micro-batches. */
interface StageRun {
  samples: number;
  microBatches: number;
  layout: Layout;
  precision: Precision;
  machine: Machine;
}

/**
 * Forward + backward seconds of one layer per sample, by kernel class: matrix products at the
 * measured forward rate for the width, their backward at `matmulBackward` times that; attention
 * at the rate for its context, its backward at `attentionBackward` times that; element-wise
 * kernels and row normalizations at their own measured rates (memory bandwidth, not FLOPs,
 * bounds them, and tensor parallelism does not split the residual stream they run on).
 * Checkpointing adds one more forward of each.
 */
export function layerSeconds(layer: LayerDescription, tensor: number, precision: Precision, machine: Machine): number {
  const products = layer.matmulFlops / machine.matmulFlops(precision, layer.matmulSize) / tensor;
  const attention = layer.attentionFlops === 0 ? 0 : layer.attentionFlops / machine.attentionFlops(precision, layer.attentionContext) / tensor;
  const { elementwise: e, normalization: n } = machine;
  const training =
    products * (1 + machine.matmulBackward) + attention * (1 + machine.attentionBackward) + layer.elementwise / e.training + layer.normalized / n.training;
  const recompute = layer.checkpointed ? products + attention + layer.elementwise / e.forward + layer.normalized / n.forward : 0;
  return training + recompute;
}

/** Framework overhead of one layer per micro-batch: an autograd op (forward call, node, backward call) per kernel, a forward call more when recomputed. */
export function layerCallSeconds(layer: LayerDescription, machine: Machine): number {
  return layer.kernelCalls * (machine.autogradCall + (layer.checkpointed ? machine.kernelCall : 0));
}

/** Forward + backward seconds of one stage. */
function stageCompute(stage: StageShape, { samples, microBatches, layout, precision, machine }: StageRun): number {
  let seconds = 0;
  for (const { layer } of stage.layers)
    seconds += samples * layerSeconds(layer, layout.tensor, precision, machine) + microBatches * layerCallSeconds(layer, machine);
  return seconds;
}

/** Tensor parallelism's activation all-reduces of one stage. */
function stageTensorComm(stage: StageShape, { samples, microBatches, layout, precision, machine }: StageRun): number {
  if (layout.tensor === 1) return 0;
  const link = linkFor(layout.tensor, machine);
  let seconds = 0;
  for (const { layer } of stage.layers) {
    const bytes = (samples / microBatches) * layer.tensorExchangeSize * computeBytes(precision);
    seconds += microBatches * layer.tensorExchanges * (allReduceSeconds(layout.tensor, bytes, link) + machine.collectiveWait);
  }
  return seconds;
}

/**
 * A layout's optimizer-step time on a machine: each accumulation step runs forward and backward
 * on every pipeline rank (layerSeconds: matrix products, attention, element-wise kernels and
 * row normalizations at the machine's measured or stated rates; layerCallSeconds: the
 * framework's cost per op and micro-batch; plus tensor parallelism's all-reduces), stretched by
 * the schedule's bubble, plus the activations passed between stages at every micro-batch; then
 * the gradients are averaged over the data ranks (latency-bandwidth ring collectives on the link
 * the group spans, one per gradient bucket, or for ZeRO-3 one per module's unit, gathered again
 * in forward and backward of every accumulation step) and the optimizer clips and steps this
 * rank's share, paying a call per parameter tensor besides its elements.
 *
 * @example stepTime(config, model, layout, calibratedMachine(loadCalibration()!, 2)).total
 */
export function stepTime(config: Config, model: ModelDescription, layout: Layout, machine: Machine): StepTime {
  const precision = config.train.precision;
  const shape = pipelineShape(model, layout);
  const m = layout.microBatches;
  let busiest = { compute: 0, tensorComm: 0, parameters: 0, tensors: 0, units: 0 };
  for (const stage of shape.stages) {
    const run: StageRun = { samples: layout.batchSize, microBatches: m, layout, precision, machine };
    const compute = stageCompute(stage, run);
    const tensorComm = stageTensorComm(stage, run);
    if (compute + tensorComm >= busiest.compute + busiest.tensorComm) {
      const layers = stage.layers.map((p) => p.layer);
      const { parameters } = rankParameters(layers, layout.tensor);
      const tensors = layers.reduce((n, l) => n + l.parameterTensors, 0);
      const units = layers.reduce((n, l) => n + l.parameterUnits, 0);
      busiest = { compute, tensorComm, parameters, tensors, units };
    }
  }
  const a = layout.accumulate;
  const busy = busiest.compute + busiest.tensorComm;
  const bubble = a * busy * (shape.stretch - 1);
  let pipelineComm = 0;
  if (layout.pipeline > 1) {
    const link = linkFor(layout.tensor * layout.data * layout.pipeline, machine);
    const boundary = Math.max(...model.layers.map((l) => l.output));
    const bytes = (layout.batchSize / m) * boundary * 4;
    pipelineComm = a * 2 * m * layout.virtualStages * (link.latency + bytes / link.bandwidth + machine.collectiveWait);
  }
  const dataLink = linkFor(layout.tensor * layout.data, machine);
  const gradientBytes = 4 * busiest.parameters;
  const D = layout.data;
  // Each piece is a collective of its own: its latencies add up, its bytes share the link.
  const pieces = layout.zero === 3 ? Math.max(1, busiest.units) : bucketCount(gradientBytes);
  const allReduces = (count: number): number => count * allReduceSeconds(D, gradientBytes / count, dataLink);
  const gathers = (count: number): number => count * gatherSeconds(D, gradientBytes / count, dataLink);
  const dataComm =
    layout.zero === 3
      ? // A reduce-scatter of each unit's gradients, and its all-gather in forward and again in backward of every accumulation step,
        // each unit paying the framework's cost of its gathers per accumulation step; the gathers sit inside forward and
        // backward, so each waits out the peer's jitter too, less what its prefetch absorbs (the reduce-scatters run behind backward).
        (1 + 2 * a) * gathers(pieces) + a * pieces * (machine.zero3Unit + 2 * machine.gatherWait)
      : layout.zero === 0
        ? allReduces(pieces)
        : 2 * gathers(pieces);
  const owned = layout.zero === 0 ? busiest.parameters : Math.ceil(busiest.parameters / D);
  const clipping = config.train.clipGradNorm ? busiest.tensors * machine.clipCall + owned / machine.clipRate : 0;
  const kernel = busiest.tensors * machine.optimizerCall + owned / machine.optimizerRate;
  // Offload reads and writes the two f32 moments of every owned element, read ahead while the previous parameter updates.
  const optimizer = clipping + (layout.offload === "disk" ? Math.max(kernel, (2 * 8 * owned) / machine.diskBandwidth) : kernel);
  const compute = a * busiest.compute;
  const tensorComm = a * busiest.tensorComm;
  return { compute, bubble, tensorComm, pipelineComm, dataComm, optimizer, total: compute + bubble + tensorComm + pipelineComm + dataComm + optimizer };
}
