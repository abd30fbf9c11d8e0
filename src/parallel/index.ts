/**
 * Training in parallel: process groups (the `threads` backend on one machine, `mpi` over many),
 * DistributedDataParallel and the launchers. Exported from the package as `parallel`.
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
export { initMpiProcessGroup } from "./mpi/index.js";
