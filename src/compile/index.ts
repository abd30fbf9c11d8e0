/**
 * Capture and replay of a training step: `compile(step)` records a step's kernel calls while it
 * runs eagerly, fuses pairs of kernel calls, plans its temporaries into one arena, and replays
 * it (natively where it can) without ops, autograd, tidy scopes or allocation, one program per
 * input shape.
 */
export { type Capture, NO_CAPTURE } from "./capture.js";
export { compile, CompiledStep, type CompileOptions, type CompileStats, type StepBody } from "./compiled_step.js";
export type { FusionCounts } from "./fuse.js";
export type { ProgramStats } from "./program.js";
