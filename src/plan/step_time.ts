import type { Config } from "../train/config.js";
import type { Link, Machine } from "./cluster.js";
import type { Layout } from "./layouts.js";
import type { ModelDescription } from "./model_description.js";
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
  /** The optimizer step (with offload: the slower of its kernel and its file traffic). */
  optimizer: number;
  total: number;
}

/** Seconds of a ring all-reduce of `bytes` over `n` ranks: 2(n − 1) messages of bytes/n. */
export const allReduceSeconds = (n: number, bytes: number, link: Link): number => (n === 1 ? 0 : 2 * (n - 1) * (link.latency + bytes / (n * link.bandwidth)));

/** Seconds of a ring reduce-scatter or all-gather of `bytes` (the whole tensor) over `n` ranks. */
export const gatherSeconds = (n: number, bytes: number, link: Link): number => (n === 1 ? 0 : (n - 1) * (link.latency + bytes / (n * link.bandwidth)));

/** The link a group of ranks uses: one node's when the group's span of consecutive ranks fits on a node. */
function linkFor(span: number, machine: Machine): Link {
  return span <= machine.devicesPerNode ? machine.intraNode : machine.interNode;
}

/** What a stage's costs depend on besides its layers: a rank's samples per accumulation step in `microBatches` micro-batches. */
interface StageRun {
  samples: number;
  microBatches: number;
  layout: Layout;
  precision: Config["train"]["precision"];
  machine: Machine;
}

/** Forward + backward seconds of one stage. */
function stageCompute(stage: StageShape, { samples, microBatches, layout, precision, machine }: StageRun): number {
  let seconds = 0;
  for (const { layer } of stage.layers) {
    // Backward costs two forwards (input and weight gradients); checkpointing adds one more forward.
    const passes = 3 + (layer.checkpointed ? 1 : 0);
    const products = layer.matmulFlops / machine.matmulFlops(precision, layer.matmulSize) + layer.attentionFlops / machine.attentionFlops(precision);
    seconds += samples * passes * (products / layout.tensor + layer.elementwise / machine.elementwiseRate);
    seconds += microBatches * passes * layer.kernelCalls * machine.kernelCall;
  }
  return seconds;
}

/** Tensor parallelism's activation all-reduces of one stage. */
function stageTensorComm(stage: StageShape, { samples, microBatches, layout, precision, machine }: StageRun): number {
  if (layout.tensor === 1) return 0;
  const link = linkFor(layout.tensor, machine);
  let seconds = 0;
  for (const { layer } of stage.layers) {
    const bytes = (samples / microBatches) * layer.tensorExchangeSize * computeBytes(precision);
    seconds += microBatches * layer.tensorExchanges * allReduceSeconds(layout.tensor, bytes, link);
  }
  return seconds;
}

/**
 * A layout's optimizer-step time on a machine: each accumulation step runs forward and backward
 * on every pipeline rank (compute from the layers' FLOPs and element-wise traffic at the
 * machine's measured or stated rates, plus tensor parallelism's all-reduces), stretched by the
 * schedule's bubble, plus the activations passed between stages; then the gradients are
 * averaged over the data ranks (latency-bandwidth ring collectives on the link the group
 * spans; ZeRO-3 also all-gathers the parameters for forward and backward of every
 * accumulation step) and the optimizer steps this rank's share.
 *
 * @example stepTime(config, model, layout, calibratedMachine(loadCalibration()!, 2)).total
 */
export function stepTime(config: Config, model: ModelDescription, layout: Layout, machine: Machine): StepTime {
  const precision = config.train.precision;
  const shape = pipelineShape(model, layout);
  const m = layout.microBatches;
  let busiest = { compute: 0, tensorComm: 0, parameters: 0 };
  for (const stage of shape.stages) {
    const run: StageRun = { samples: layout.batchSize, microBatches: m, layout, precision, machine };
    const compute = stageCompute(stage, run);
    const tensorComm = stageTensorComm(stage, run);
    if (compute + tensorComm >= busiest.compute + busiest.tensorComm) {
      const { parameters } = rankParameters(
        stage.layers.map((p) => p.layer),
        layout.tensor,
      );
      busiest = { compute, tensorComm, parameters };
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
    pipelineComm = a * 2 * m * layout.virtualStages * (link.latency + bytes / link.bandwidth);
  }
  const dataLink = linkFor(layout.tensor * layout.data, machine);
  const gradientBytes = 4 * busiest.parameters;
  const D = layout.data;
  const dataComm =
    layout.zero === 3
      ? gatherSeconds(D, gradientBytes, dataLink) + a * 2 * gatherSeconds(D, gradientBytes, dataLink)
      : layout.zero === 0
        ? allReduceSeconds(D, gradientBytes, dataLink)
        : 2 * gatherSeconds(D, gradientBytes, dataLink);
  const owned = layout.zero === 0 ? busiest.parameters : Math.ceil(busiest.parameters / D);
  const kernel = owned / machine.optimizerRate;
  // Offload reads and writes the two f32 moments of every owned element, read ahead while the previous parameter updates.
  const optimizer = layout.offload === "disk" ? Math.max(kernel, (2 * 8 * owned) / machine.diskBandwidth) : kernel;
  const compute = a * busiest.compute;
  const tensorComm = a * busiest.tensorComm;
  return { compute, bubble, tensorComm, pipelineComm, dataComm, optimizer, total: compute + bubble + tensorComm + pipelineComm + dataComm + optimizer };
}
