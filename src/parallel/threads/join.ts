import { isMainThread, workerData } from "node:worker_threads";

import { ThreadsProcessGroup } from "./group.js";
import { ThreadsWorld, type ThreadsWorldSpec } from "./world.js";

/** What the supervisor gives each worker of a `threads` job. */
export interface ThreadsWorkerData {
  spec: ThreadsWorldSpec;
  rank: number;
  threads: number;
  module: string;
  args: unknown;
}

let worldGroup: ThreadsProcessGroup | null = null;

/** True in a worker thread started by a `threads` job. */
export function inThreadsJob(): boolean {
  return !isMainThread && typeof workerData === "object" && workerData !== null && "turbineThreads" in workerData;
}

/**
 * This worker's world group of its `threads` job (the same object on every call).
 * @example const group = threadsWorldGroup(); group.barrier();
 */
export function threadsWorldGroup(): ThreadsProcessGroup {
  if (!inThreadsJob()) throw new Error("threads backend: this thread was not started by a threads job (turbine launch, or startThreads)");
  if (worldGroup === null) {
    const data = (workerData as { turbineThreads: ThreadsWorkerData }).turbineThreads;
    const members = Array.from({ length: data.spec.size }, (_, r) => r);
    worldGroup = new ThreadsProcessGroup(new ThreadsWorld(data.spec, data.rank), 0, members);
  }
  return worldGroup;
}
