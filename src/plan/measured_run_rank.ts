/**
 * One rank of a measured run in a threads job (bench/plan.ts, `turbine tune --ranks`):
 * measureRun on the job's group, its figures sent back to the caller. `independent`: each
 * rank trains alone, beside the others (the planner's contention calibration).
 */
import type { ProcessGroup } from "../parallel/process_group.js";
import type { Config } from "../train/config.js";
import { measureRun, type MeasuredRun } from "./measured_run.js";

export function run(group: ProcessGroup, args: { config: Config; warmup: number; steps: number; validate?: boolean; independent?: boolean }): MeasuredRun {
  return measureRun(args.config, args.independent ? undefined : group, { warmup: args.warmup, steps: args.steps, validate: args.validate ?? false });
}
