/**
 * One rank of the planner's link calibration (measure.ts): the seconds of an all-reduce of each
 * size on a communication buffer (where DDP and ZeRO keep their buckets), the 25th percentile
 * of its calls as fastSeconds takes them. Every rank runs the same number of calls, so none
 * waits on a collective another never starts.
 */
import { performance } from "node:perf_hooks";

import type { ProcessGroup } from "../parallel/process_group.js";
import type { ThreadsProcessGroup } from "../parallel/threads/group.js";

const CALLS = 21;

export function run(group: ProcessGroup, args: { sizes: number[] }): number[] {
  return args.sizes.map((bytes) => {
    const buffer = (group as ThreadsProcessGroup).communicationBuffer([bytes / 4], "float32");
    const samples: number[] = [];
    for (let i = 0; i < CALLS + 2; i++) {
      group.barrier();
      const t0 = performance.now();
      group.allReduce(buffer, "sum");
      if (i >= 2) samples.push((performance.now() - t0) / 1000);
    }
    buffer.dispose();
    return samples.sort((a, b) => a - b)[Math.floor(samples.length / 4)]!;
  });
}
