/**
 * Sharded data parallelism (ZeRO): the strategy, the sharded optimizer state it updates, and
 * the layout of parameters across ranks.
 * @example
 * import { parallel } from "turbine";
 * const strategy = new parallel.ZeroDataParallel(model, group, { stage: 2 });
 */
export { ZeroDataParallel, type ZeroOptions, type ZeroStage } from "./zero.js";
export { ShardOptimizerState, type ShardSlice } from "./shard_optimizer_state.js";
export { ZeroParameterShards } from "./zero_parameter_shards.js";
export { makeUnit, slicesOfRank, unitsBySize, type Unit, type ParamSlice } from "./partition.js";
