/**
 * One rank of the planner's contention calibration (measure.ts): the matrix product and the add
 * of contentionProbe, timed while the other rank times the same, a barrier before each.
 */
import type { ProcessGroup } from "../parallel/process_group.js";
import { contentionProbe } from "./measure.js";

export function run(group: ProcessGroup): { compute: number; memory: number } {
  return contentionProbe(() => group.barrier());
}
