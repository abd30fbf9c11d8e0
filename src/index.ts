/**
 * turbine: train neural networks fast on Node.js.
 *
 * @example
 * import { tensor, matmul, sum, tidy } from "turbine";
 * const w = tensor([[1, 2], [3, 4]], { requiresGrad: true });
 * tidy(() => sum(matmul(w, w)).backward());
 */
export { Tensor } from "./tensor/tensor.js";
export type { DType, TypedArray } from "./tensor/dtype.js";
export { zeros, ones, full, empty, arange, tensor, fromTypedArray, type TensorOptions } from "./tensor/create.js";
export { tidy, keep } from "./tensor/scope.js";
export {
  Generator,
  defaultGenerator,
  manualSeed,
  rand,
  randn,
  randint,
  uniform_,
  normal_,
  type GeneratorState,
  type RandomOptions,
} from "./tensor/random.js";
export { isOutOfMemory, memory, type MemoryCategory, type MemoryReport } from "./tensor/memory.js";
export { pool } from "./tensor/pool.js";
export { noGrad, enableGrad, isGradEnabled } from "./autograd/grad_mode.js";
export { checkpoint } from "./autograd/checkpoint.js";
export { backwardFrom } from "./autograd/backward.js";
export * from "./ops/index.js";
export * as data from "./data/index.js";
export * as nn from "./nn/index.js";
export * as optim from "./optim/index.js";
export * as amp from "./amp/index.js";
export { autocast } from "./amp/autocast.js";
export * as models from "./models/index.js";
export * as parallel from "./parallel/index.js";
export * as federated from "./federated/index.js";
export * as plan from "./plan/index.js";
export * as prune from "./prune/index.js";
export * as search from "./search/index.js";
export * as tune from "./tune/index.js";
export { compile, CompiledStep, type CompileOptions, type CompileStats, type StepBody } from "./compile/index.js";
export * from "./train/index.js";
export { timeOps, formatOpTable, type OpTiming } from "./profile/op_timer.js";
export * as profile from "./profile/index.js";
export * as report from "./report/index.js";
export { saveSafetensors, loadSafetensors, encodeSafetensors, decodeSafetensors, type Safetensors } from "./tensor/safetensors.js";
export { kernels, backendName } from "./backends/index.js";
