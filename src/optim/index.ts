export { Optimizer, type ParamGroup, type ParamState, type OptimizerStateDict } from "./optimizer.js";
export type { ParameterShards, SliceOfParameter } from "./parameter_shards.js";
export { SGD, type SGDOptions } from "./sgd.js";
export { Adam, type AdamOptions } from "./adam.js";
export { AdamW } from "./adamw.js";
export { Lamb, type LambOptions } from "./lamb.js";
export { Lion, type LionOptions } from "./lion.js";
export { Muon, type MuonOptions } from "./muon.js";
export {
  LRScheduler,
  constant,
  cosine,
  linearDecay,
  linearWarmup,
  oneCycle,
  sequential,
  stepDecay,
  warmupStableDecay,
  type Schedule,
} from "./schedule.js";
export { clipGradNorm, clipGradValue, gradNorm, type NormCombine } from "./clip.js";
export { GradScaler, type GradScalerOptions, type GradScalerState } from "./grad_scaler.js";
