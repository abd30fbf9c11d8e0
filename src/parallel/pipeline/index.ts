/**
 * Pipeline parallelism: schedules as plans, their simulated timeline, the cut of a model into
 * stages, and the PipelineParallel strategy.
 *
 * @example
 * const plan = planSchedule("1f1b", 4, 8);
 * idleShares(simulate(plan));   // each stage idles 3/11 of the step
 */
export { PipelineParallel } from "./pipeline.js";
export type { PipelineOptions, TracedAction, TracedExchange } from "./pipeline_options.js";
export { planSchedule, SCHEDULES, type Action, type PipelinePlan, type ScheduleName } from "./schedule.js";
export {
  simulate,
  idleShares,
  unequalIdleShares,
  replayedIdleShares,
  peakInFlight,
  virtualStage,
  type ActionCost,
  type Timeline,
  type Message,
} from "./timeline.js";
export { layersOf, balancedCut, measureLayerCosts } from "./partition.js";
