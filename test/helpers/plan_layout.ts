import type { Layout } from "../../src/plan/layouts.js";

/** One process, nothing parallel: the layout the planner tests vary one field of. */
export function singleLayout(batchSize: number): Layout {
  return {
    data: 1,
    tensor: 1,
    pipeline: 1,
    zero: 0,
    offload: "none",
    checkpoint: false,
    accumulate: 1,
    batchSize,
    microBatches: 1,
    schedule: "1f1b",
    virtualStages: 1,
  };
}
