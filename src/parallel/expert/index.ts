/** Expert parallelism: a mixture of experts split over ranks, tokens exchanged by all-to-all. */
export { allToAllRegion } from "./all_to_all_region.js";
export { expertParallelRunner, expertParameters, mixturesOf, placeExperts, shardExperts } from "./expert_parallel.js";
export { ExpertParallel, type ExpertParallelOptions } from "./strategy.js";
