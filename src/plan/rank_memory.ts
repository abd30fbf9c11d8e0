import type { Config } from "../train/config.js";
import { modelStateBytes, type ModelStateBytes } from "../train/model_state_bytes.js";
import type { Layout } from "./layouts.js";
import type { ActivationElements, LayerDescription, ModelDescription } from "./model_description.js";
import { pipelineShape, type StageShape } from "./pipeline_shape.js";
import { zeroPaperBytes } from "./zero_paper.js";

/** A rank's predicted peak memory in bytes, by what holds it. */
export interface RankMemory {
  /** Parameters, gradients and optimizer state (modelStateBytes of the rank's share). */
  modelStates: ModelStateBytes;
  /** Activations kept for backward at the peak, with the input batch and backward's transients. */
  activations: number;
  /**
   * The peak of all of it at once: the larger of the start of backward (activations at their
   * peak beside the model states held then) and the end of the step (every model state at its
   * peak, activations gone).
   */
  total: number;
  /** The ZeRO paper's mixed-precision model-state bytes for the same share, stage and ranks (for comparison; turbine keeps float32 states). */
  zeroPaper: number;
}

/** float32 state values per parameter element the optimizer keeps (Muon: momentum for its matrices, nearly all of a model). */
function stateValues(optimizer: Config["optimizer"]): number {
  if (optimizer.kind === "sgd") return optimizer.momentum ? 1 : 0;
  return optimizer.kind === "lion" || optimizer.kind === "muon" ? 1 : 2;
}

/** Bytes of the compute dtype: autocast's low precision, or float32. */
export const computeBytes = (precision: Config["train"]["precision"]): number => (precision === "float32" ? 4 : 2);

/** Bytes of activation elements per sample on one of `tensor` tensor-parallel ranks. */
function bytesOf(a: ActivationElements, tensor: number, compute: number): number {
  return 4 * (a.f32 + a.f32Split / tensor) + compute * (a.compute + a.computeSplit / tensor + (compute < 4 ? a.lowCopies : 0));
}

/**
 * Parameter elements a rank holds of `layers`: split ones divided over the tensor ranks, and
 * those a layer shares with one the rank lacks (a tied head on the last pipeline stage).
 */
export function rankParameters(layers: readonly LayerDescription[], tensor: number): { parameters: number; largest: number; low: number } {
  let parameters = 0,
    largest = 0,
    low = 0;
  for (const l of layers) {
    const shared = l.sharedFrom !== null && !layers.some((owner) => owner.name === l.sharedFrom) ? l.sharedParameters : 0;
    parameters += l.parameters - l.splitParameters + Math.ceil(l.splitParameters / tensor) + Math.ceil(shared / tensor);
    largest = Math.max(largest, Math.ceil(l.largestParameter / (l.splitParameters > 0 ? tensor : 1)));
    low += Math.ceil(l.lowPrecisionParameters / tensor);
  }
  return { parameters, largest, low };
}

/**
 * The activation bytes a pipeline rank holds at its peak. Forward leaves the input batches in
 * flight and what each of its layers keeps for every sample in flight (a checkpointed layer:
 * only its input); backward then walks the layers in reverse, each holding its working set
 * for one micro-batch (its activation gradients, its largest weight's gradient; a checkpointed
 * layer first recomputes what it keeps) and then freeing what it kept, so the peak is the
 * largest of those moments.
 */
function activationBytes(stage: StageShape, model: ModelDescription, layout: Layout, precision: Config["train"]["precision"]): number {
  const compute = computeBytes(precision);
  const micro = layout.batchSize / layout.microBatches;
  // An interleaved rank's in-flight actions each hold one of its chunks.
  const samples = (micro * stage.inFlight) / layout.virtualStages;
  const layers = stage.layers.map(({ layer, input }) => {
    const saved = bytesOf(layer.saved, layout.tensor, compute);
    const extra = bytesOf(layer.backwardTransient, layout.tensor, compute);
    // A tied head's gradient is the embedding's (split by vocabulary under tensor parallelism).
    const weight = Math.max(layer.largestParameter, layer.sharedParameters);
    const weightGradient = 4 * Math.ceil(weight / (layer.splitParameters > 0 || layer.sharedParameters > 0 ? layout.tensor : 1));
    return {
      kept: layer.checkpointed ? 4 * input : saved,
      held: bytesOf(layer.heldToStepEnd, layout.tensor, compute),
      working: ((layer.checkpointed ? saved : 0) + extra) * micro + weightGradient,
    };
  });
  let live = 4 * model.inputElements * micro * stage.inFlight + layers.reduce((n, l) => n + (l.kept + l.held) * samples, 0);
  let peak = live;
  for (const l of layers.reverse()) {
    peak = Math.max(peak, live + l.working);
    live -= l.kept * micro;
  }
  return peak;
}

/**
 * The model states a rank holds when backward starts, where activations peak: what persists
 * from step to step. Not yet the gradients (one process frees them at zeroGrad; DDP keeps its
 * buckets, 4Ψ; stage 1 its flat buffers, 4Ψ, and gradient chunks, 4S; stages 2 and 3 their
 * chunks), unless an earlier backward of the step made them (`gradientsLive`: a pipeline stage
 * in 1F1B's steady state), nor stages 1 and 2's all-gather buffers of the step (4Ψ).
 */
function heldAtBackwardStart(states: ModelStateBytes, parameters: number, layout: Layout, gradientsLive: boolean): number {
  const shard = 4 * Math.ceil(parameters / layout.data);
  const gradients = [layout.data > 1 || gradientsLive ? 4 * parameters : 0, 4 * parameters + shard, shard, shard][layout.zero]!;
  const gatherBuffers = layout.zero === 1 || layout.zero === 2 ? 4 * parameters : 0;
  return states.parameters - gatherBuffers + gradients + states.optimizer;
}

/**
 * A rank's peak memory under a layout, on its most loaded pipeline rank: model states by
 * modelStateBytes (turbine's per-stage formulas over the rank's share of the parameters: its
 * stage's layers, tensor-split parameters divided by the tensor size, sharded over the data
 * ranks by ZeRO) plus activations from the model's shapes (the tensors each layer keeps per
 * sample at the run's precision, times the samples the schedule keeps in flight).
 *
 * @example rankMemory(config, describeModel(config.model, 65), layout).total
 */
export function rankMemory(config: Config, model: ModelDescription, layout: Layout): RankMemory {
  let worst: RankMemory | null = null;
  for (const stage of pipelineShape(model, layout).stages) {
    const { parameters, largest, low } = rankParameters(
      stage.layers.map((p) => p.layer),
      layout.tensor,
    );
    const modelStates = modelStateBytes({
      parameters,
      largestParameter: largest,
      lowPrecisionParameters: config.train.precision === "float32" ? 0 : low,
      ranks: layout.data,
      stage: layout.zero,
      offload: layout.offload,
      stateValues: stateValues(config.optimizer),
      // ZeRO-3's units are single modules: the one in flight is about the largest parameter, and
      // a module's gathered weights stand beside the prefetched next one's.
      ...(layout.zero === 3 ? { bucketElements: largest, gatheredElements: 2 * largest } : {}),
    });
    const activations = activationBytes(stage, model, layout, config.train.precision);
    const zeroPaper = zeroPaperBytes(parameters, layout.data, layout.zero);
    const atBackward = heldAtBackwardStart(modelStates, parameters, layout, stage.gradientsAtPeak) + activations;
    const memory = { modelStates, activations, total: Math.max(atBackward, modelStates.resident), zeroPaper };
    if (!worst || memory.total > worst.total) worst = memory;
  }
  return worst!;
}
