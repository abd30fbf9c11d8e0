export { Pruner, type MaskPruneOptions, type PrunerState } from "./pruner.js";
export { magnitudeMasks, nmMask, type Mask, type MaskedWeight } from "./masks.js";
export { cubicSparsity, isUpdateStep, type PruneSchedule } from "./schedule.js";
export { pruneStructured, structuredModel, structuresOf, type StructureKind, type StructuredPruning } from "./structured.js";
export { pruneRun, type PrunedRun } from "./prune_run.js";
export { runWithStructuredCut, type RunPhase } from "./structured_run.js";
