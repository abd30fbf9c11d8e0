/**
 * One rank of bench/plan.ts: a short real run of the config on the job's group (measureRun:
 * the tracker's peak and seconds per step after warm-up).
 */
import type { ProcessGroup } from "../src/parallel/process_group.js";
import { measureRun, type MeasuredRun } from "../src/plan/measured_run.js";
import type { Config } from "../src/train/config.js";

export function run(group: ProcessGroup, args: { config: Config; warmup: number; steps: number }): MeasuredRun {
  return measureRun(args.config, group, { warmup: args.warmup, steps: args.steps });
}
