/**
 * Training in parallel: process groups (the `threads` backend on one machine, `mpi` over many),
 * the launchers, the Strategy interface with SingleProcess and DistributedDataParallel, and
 * the collectives as differentiable ops for tensor parallelism. Exported as `parallel`.
 *
 * @example
 * import { parallel } from "turbine";
 * const job = parallel.startThreads({ size: 2, module: new URL("./rank.js", import.meta.url) });
 * // rank.js: export function run(group) { new parallel.DistributedDataParallel(model, group); ... }
 */
export { DistributedDataParallel, type DDPOptions } from "./ddp.js";
export { initProcessGroup, inDistributedJob } from "./init.js";
export { CollectiveError, type ProcessGroup, type Work, type ReduceOp, type BackendName, type CollectiveOptions } from "./process_group.js";
export { startThreads, type RunThreadsOptions, type RankOutcome, type ThreadsJob } from "./threads/spawn.js";
export { HierarchicalGroup, initMpiProcessGroup, machineId } from "./mpi/index.js";
export { SingleProcess, ReplicatedStrategy, type Strategy, type MicroBatchRun, type BatchCounts, type ModuleLoss } from "./strategy.js";
export {
  assembleRange,
  disposeState,
  elementCount,
  readerOfStates,
  wholeModel,
  type PieceSet,
  type PieceSource,
  type SavedParamGroup,
  type StateReader,
  type StateSection,
  type StrategyState,
  type TensorInfo,
  type TensorPiece,
} from "./state.js";
export { loadWholeState, wholeState } from "./replicated_state.js";
export { shardedNorm } from "./sharded_norm.js";
export * as pipeline from "./pipeline/index.js";
export {
  ZeroDataParallel,
  ShardOptimizerState,
  ZeroParameterShards,
  makeUnit,
  slicesOfRank,
  unitsBySize,
  type ZeroOptions,
  type ZeroStage,
  type ShardSlice,
  type Unit,
  type ParamSlice,
} from "./zero/index.js";
export { DeviceMesh, meshShape, MESH_DIMS, type MeshShape, type MeshCoords, type MeshDim } from "./mesh.js";
export {
  allToAllRegion,
  expertParallelRunner,
  expertParameters,
  mixturesOf,
  placeExperts,
  shardExperts,
  ExpertParallel,
  type ExpertParallelOptions,
} from "./expert/index.js";
export { copyToRegion, reduceFromRegion, gatherFromRegion, scatterToRegion, reduceScatterToRegion } from "./region_ops.js";
export { ColumnParallelLinear, type ColumnParallelOptions } from "./tensor/column_parallel_linear.js";
export { RowParallelLinear } from "./tensor/row_parallel_linear.js";
export { VocabParallelEmbedding } from "./tensor/vocab_parallel_embedding.js";
export { vocabParallelCrossEntropy } from "./tensor/vocab_parallel_cross_entropy.js";
export { sequenceParallelDropout } from "./tensor/sequence_dropout.js";
export { TensorParallelModule, splitsOf, type SplitParameter } from "./tensor/parallel_module.js";
export { TensorParallel, type TensorParallelStrategyOptions } from "./tensor/strategy.js";
export { gatheredState, loadPartState, fullShapes, type GatherOptions, type GroupPlace } from "./tensor/split_state.js";
export type { TensorSplit } from "./tensor/split.js";
export * as compression from "./compression/index.js";
export { CountingGroup, type CollectiveCount, type CountedOp } from "./counting_group.js";
export { WrappedGroup, type CollectiveKind } from "./wrapped_group.js";
export { anyRank } from "./any_rank.js";
export type { PeerChannel } from "./peer_channel.js";
export * as ps from "./ps/index.js";
