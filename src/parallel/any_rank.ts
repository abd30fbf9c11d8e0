import { tensor } from "../tensor/create.js";
import type { ProcessGroup } from "./process_group.js";

/**
 * True on every rank when `flag` is true on any rank of `group` (an all-reduce of one number
 * with max): ranks agree on a decision one of them made, such as skipping a step for inf
 * gradients found in its shard, or stopping after a signal it received.
 *
 * @example
 * const skip = anyRank(group, !Number.isFinite(localNorm));
 */
export function anyRank(group: ProcessGroup, flag: boolean): boolean {
  const t = tensor([flag ? 1 : 0]);
  try {
    group.allReduce(t, "max").wait();
    return t.item() > 0;
  } finally {
    t.dispose();
  }
}
