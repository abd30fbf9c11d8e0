import { balancedCut } from "../parallel/pipeline/partition.js";
import { planSchedule } from "../parallel/pipeline/schedule.js";
import { peakAfterBackward, peakInFlight, simulate } from "../parallel/pipeline/timeline.js";
import type { Layout } from "./layouts.js";
import type { LayerDescription, ModelDescription } from "./model_description.js";

/** A layer on a rank, with the elements per sample that enter it (what checkpointing keeps). */
export interface PlacedLayer {
  layer: LayerDescription;
  input: number;
}

/** One pipeline rank: its layers (all its chunks) and the most micro-batches it holds at once. */
export interface StageShape {
  layers: PlacedLayer[];
  inFlight: number;
  /** Whether its parameters' gradients already exist when it holds that many (1F1B's steady state). */
  gradientsAtPeak: boolean;
}

/** How a layout's pipeline lays the model out: the ranks' stages and the step's stretch from its bubble. */
export interface PipelineShape {
  stages: StageShape[];
  /**
   * The step's length over one rank's busy time: the schedule's ticks (every action one
   * unit) over the actions a rank runs; 1 without a pipeline, (m + p − 1)/m for gpipe and 1f1b.
   */
  stretch: number;
}

/** A layer's forward cost as the cut balances it (turbine cuts by measured forward time; FLOPs stand in for it). */
const cost = (l: LayerDescription): number => l.matmulFlops + l.attentionFlops + l.elementwise + l.normalized;

/** The simulated timeline's stretch and in-flight peaks of a layout's schedule. */
function scheduleFigures(layout: Layout): { stretch: number; inFlight: number[]; gradientsAtPeak: boolean[] } {
  const plan = planSchedule(layout.schedule, layout.pipeline, layout.microBatches, layout.virtualStages);
  return { stretch: simulate(plan).ticks / plan.actions[0]!.length, inFlight: peakInFlight(plan), gradientsAtPeak: peakAfterBackward(plan) };
}

/** Many layouts share a pipeline: the cut and the simulated schedule are made once per model and shape. */
const shapesOf = new WeakMap<ModelDescription, Map<string, PipelineShape>>();

/**
 * The stages of a layout's pipeline: the model's layers cut into pipeline × virtualStages
 * balanced parts (rank s runs parts s, s + p, …, as the interleaved schedule places them),
 * with the in-flight micro-batches and the stretch of the schedule's simulated timeline
 * (src/parallel/pipeline: the plan turbine runs, so the bubble is the one it has). Without a
 * pipeline: one stage of every layer, one micro-batch, stretch 1.
 *
 * @example pipelineShape(model, { ...layout, pipeline: 4, microBatches: 8, schedule: "1f1b" }).stretch   // 11/8
 */
export function pipelineShape(model: ModelDescription, layout: Layout): PipelineShape {
  const key = `${layout.schedule}/${layout.pipeline}/${layout.microBatches}/${layout.virtualStages}`;
  let shapes = shapesOf.get(model);
  if (!shapes) shapesOf.set(model, (shapes = new Map()));
  let shape = shapes.get(key);
  if (!shape) shapes.set(key, (shape = cutPipeline(model, layout)));
  return shape;
}

function cutPipeline(model: ModelDescription, layout: Layout): PipelineShape {
  const placed = model.layers.map((layer, i) => ({ layer, input: i === 0 ? model.inputElements : model.layers[i - 1]!.output }));
  if (layout.pipeline === 1) return { stages: [{ layers: placed, inFlight: 1, gradientsAtPeak: false }], stretch: 1 };
  const parts = layout.pipeline * layout.virtualStages;
  const sizes = balancedCut(
    model.layers.map((l) => cost(l)),
    parts,
  );
  const { stretch, inFlight, gradientsAtPeak } = scheduleFigures(layout);
  const stages: StageShape[] = Array.from({ length: layout.pipeline }, (_, s) => ({
    layers: [],
    inFlight: inFlight[s]!,
    gradientsAtPeak: gradientsAtPeak[s]!,
  }));
  let at = 0;
  for (const [part, size] of sizes.entries()) {
    stages[part % layout.pipeline]!.layers.push(...placed.slice(at, at + size));
    at += size;
  }
  return { stages, stretch };
}
