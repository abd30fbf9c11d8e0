/**
 * The profiler: where a training step's time and memory go, and what to change.
 *
 * @example
 * import { profile } from "turbine";
 * const report = profile.profileTraining(config, { steps: 3, trace: true });
 * console.log(profile.formatProfile(report!));
 */
export { timeOps, formatOpTable, type OpTiming } from "./op_timer.js";
export { profileTraining, DEFAULT_TRACE_BYTES, type ProfileOptions, type ProfileReport, type ProfileTrace } from "./profile_run.js";
export { formatProfile } from "./format.js";
export { verdict, VERDICT_THRESHOLDS, type Bottleneck, type Verdict, type VerdictInput } from "./verdict.js";
export { rankProfile, dominantCategory, type RankProfile, type TimeShares, type OpRow, type CollectiveRow } from "./breakdown.js";
export { StepRecorder, type Recording, type OpRecord, type CollectiveRecord, type BlockedRecord, type MemorySample } from "./recorder.js";
export { TracingGroup } from "./tracing_group.js";
export { rankTraceEvents, capTrace, type TraceEvent, type TraceCap } from "./trace_events.js";
export { gatherText } from "./gather_text.js";
export { union, intersect, subtract, measure, type Interval } from "./intervals.js";
