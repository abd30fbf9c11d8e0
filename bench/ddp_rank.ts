/**
 * One rank of bench/ddp.ts: the gpt workload with DDP over the job's group (bench/zero_rank.ts
 * at stage 0), compiled when `compile` is set, `warmup` untimed steps, then `steps` timed ones;
 * returns this rank's tokens, seconds and compiled replays.
 */
import type { ProcessGroup } from "../src/parallel/process_group.js";
import type { RankThroughput } from "./harness.js";
import { run as runZero } from "./zero_rank.js";

export function run(group: ProcessGroup, args: { steps: number; warmup: number; compile?: boolean; alone?: boolean }): RankThroughput {
  return runZero(group, { ...args, zero: 0 });
}
