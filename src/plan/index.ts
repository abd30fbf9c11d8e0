/**
 * The planner (`turbine plan`): a model described from its config, the layouts turbine runs
 * for it on N ranks, each one's per-rank memory and step time on a machine (a cluster file's,
 * or this one's calibration), and the fastest that fits, explained.
 *
 * @example
 * import { plan as planner } from "turbine";
 * const result = planner.plan(config, { ranks: 8, memoryPerRank: 80e9, machine: planner.loadCluster("cluster.yaml"), globalBatch: 256, vocab: 50304 });
 */
export { describeModel, type ModelDescription, type LayerDescription, type ActivationElements } from "./model_description.js";
export { enumerateLayouts, layoutConfig, layoutRefusal, FULL_SPACE, type Layout, type LayoutSpace } from "./layouts.js";
export { pipelineShape, type PipelineShape, type StageShape, type PlacedLayer } from "./pipeline_shape.js";
export { rankMemory, rankParameters, computeBytes, type RankMemory } from "./rank_memory.js";
export { stepTime, layerSeconds, layerCallSeconds, bucketCount, allReduceSeconds, gatherSeconds, type StepTime } from "./step_time.js";
export { loadCluster, clusterMachine, clusterSchema, type ClusterDescription, type Machine, type Link, type PassRates, type Precision } from "./cluster.js";
export { calibrate, calibratedMachine, calibrationPath, loadCalibration, type Calibration } from "./calibration.js";
export { measureKernels, measureThreadsLink, measureDisk, fastSeconds, type KernelRates } from "./measure.js";
export { zeroPaperBytes } from "./zero_paper.js";
export { measureRun, type MeasuredRun } from "./measured_run.js";
export { plan, describeLayout, type Plan, type PlanOptions, type PlannedLayout } from "./planner.js";
