/**
 * One rank of the planner's collective-wait calibration (step_efficiency.ts): the reference
 * step under a layout (tensor parallelism, ZeRO-3) through a TracingGroup, its collectives of
 * one kind (all-reduces, all-gathers) timed from their call to the end of their wait over the
 * timed steps, while the other rank does the same.
 */
import type { ProcessGroup } from "../parallel/process_group.js";
import type { CollectiveKind } from "../parallel/wrapped_group.js";
import type { BlockedRecord, CollectiveRecord } from "../profile/recorder.js";
import { TracingGroup } from "../profile/tracing_group.js";
import type { Config } from "../train/config.js";
import { measureRun } from "./measured_run.js";

/** This rank's mean blocked seconds per collective of `kind` over the timed steps of `config`. */
export function run(group: ProcessGroup, args: { config: Config; kind: CollectiveKind; warmup: number; steps: number }): number {
  let [on, seconds, calls] = [false, 0, 0];
  const sink = {
    get isRecording(): boolean {
      return on;
    },
    collective(record: CollectiveRecord): void {
      if (record.kind === args.kind) calls++;
    },
    blocked(record: BlockedRecord): void {
      if (record.kind === args.kind) seconds += (record.end - record.start) / 1000;
    },
  };
  measureRun(args.config, new TracingGroup(group, sink), {
    warmup: args.warmup,
    steps: args.steps,
    afterWarmup: () => {
      on = true;
    },
  });
  if (calls === 0) throw new Error(`plan calibration: the reference step ran no ${args.kind}`);
  return seconds / calls;
}
