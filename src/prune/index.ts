export { Pruner, type MaskPruneOptions, type PrunerState } from "./pruner.js";
export { magnitudeMasks, nmMask, type Mask, type MaskedWeight } from "./masks.js";
export { cubicSparsity, isUpdateStep, type PruneSchedule } from "./schedule.js";
