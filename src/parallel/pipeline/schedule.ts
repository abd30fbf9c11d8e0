import { simulate } from "./timeline.js";

/**
 * Pipeline schedules as plans: for each stage (rank of the pipeline group), the ordered list of
 * forward and backward actions it runs in one step. A plan is data, computed before anything
 * runs, so it can be checked (timeline.ts simulates it: every dependency met, the idle share of
 * each stage) and then executed as is (pipeline.ts).
 *
 * Virtual stage `chunk · stages + stage` is chunk `chunk` of rank `stage`: with one chunk per
 * rank (gpipe, 1f1b) the virtual stages are the ranks; interleaved gives each rank `chunks`
 * non-consecutive parts of the model (Megatron's interleaved 1F1B).
 */

/** The schedules, as `parallel.schedule` names them. */
export const SCHEDULES = ["gpipe", "1f1b", "interleaved"] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

/** One unit of work of a stage: forward or backward of one micro-batch through one of its chunks. */
export interface Action {
  kind: "forward" | "backward";
  micro: number;
  /** The rank's chunk (0 unless interleaved). */
  chunk: number;
}

/** A schedule's actions for every stage of one step. */
export interface PipelinePlan {
  schedule: ScheduleName;
  stages: number;
  microBatches: number;
  /** Chunks (virtual stages) per rank. */
  chunks: number;
  /** actions[stage]: what that stage runs, in order. */
  actions: Action[][];
}

const forward = (micro: number, chunk = 0): Action => ({ kind: "forward", micro, chunk });
const backward = (micro: number, chunk = 0): Action => ({ kind: "backward", micro, chunk });
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * GPipe: every micro-batch forward, then every one backward; a stage holds all m micro-batches'
 * activations at its peak.
 */
function gpipe(stages: number, m: number): Action[][] {
  return range(stages).map(() => [...range(m).map((i) => forward(i)), ...range(m).map((i) => backward(i))]);
}

/**
 * 1F1B (PipeDream-flush): stage s runs p − s − 1 warm-up forwards, then alternates one forward
 * and one backward, then drains the backwards; at most p − s micro-batches are in flight on it.
 */
function oneForwardOneBackward(stages: number, m: number): Action[][] {
  return range(stages).map((s) => {
    const warmup = Math.min(stages - s - 1, m);
    const list = range(warmup).map((i) => forward(i));
    for (let i = warmup; i < m; i++) list.push(forward(i), backward(i - warmup));
    for (let i = m - warmup; i < m; i++) list.push(backward(i));
    return list;
  });
}

/**
 * Interleaved 1F1B (Megatron): micro-batches go through the chunks in groups of p (the last
 * group may be smaller): forward k of a rank is chunk ⌊k/g⌋ mod v of the group's k-th
 * micro-batch, backwards visit the chunks in reverse. Stage s warms up with Megatron's
 * (p − s − 1)·2 + (v − 1)·p forwards (all of them when m < p), then alternates one forward and
 * one backward, then drains. When m is not a multiple of p, Megatron's warm-up can leave two
 * stages waiting on each other; every stage then warms up by as many more forwards as the
 * fewest that run (found by simulating the plan; all forwards first always runs).
 */
function interleaved(stages: number, m: number, v: number): Action[][] {
  const order = (kind: "forward" | "backward"): Action[] => {
    const list: Action[] = [];
    for (let first = 0; first < m; first += stages) {
      const group = range(Math.min(stages, m - first)).map((i) => first + i);
      for (const c of range(v)) for (const micro of group) list.push({ kind, micro, chunk: kind === "forward" ? c : v - 1 - c });
    }
    return list;
  };
  const forwards = order("forward"),
    backwards = order("backward"),
    total = m * v;
  const withExtraWarmup = (extra: number): Action[][] =>
    range(stages).map((s) => {
      const warmup = m < stages ? total : Math.min((stages - s - 1) * 2 + (v - 1) * stages + extra, total);
      const list = forwards.slice(0, warmup);
      for (let i = warmup; i < total; i++) list.push(forwards[i]!, backwards[i - warmup]!);
      list.push(...backwards.slice(total - warmup));
      return list;
    });
  for (let extra = 0; ; extra++) {
    const actions = withExtraWarmup(extra);
    if (extra >= total || runs({ schedule: "interleaved", stages, microBatches: m, chunks: v, actions })) return actions;
  }
}

function runs(plan: PipelinePlan): boolean {
  try {
    simulate(plan);
    return true;
  } catch {
    return false;
  }
}

/**
 * The plan of `schedule` for `stages` ranks, `microBatches` micro-batches and (interleaved)
 * `chunks` chunks per rank. Any microBatches ≥ 1 gives a plan that runs (fewer micro-batches
 * than stages only widen the bubble).
 *
 * @example planSchedule("1f1b", 2, 3).actions[0]   // F0 F1 B0 F2 B1 B2 (as Action objects)
 */
export function planSchedule(schedule: ScheduleName, stages: number, microBatches: number, chunks = 1): PipelinePlan {
  for (const [name, v] of Object.entries({ stages, microBatches, chunks })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`planSchedule: ${name} must be a positive integer, got ${v}`);
  }
  if (schedule !== "interleaved" && chunks !== 1) throw new RangeError(`planSchedule: ${schedule} runs one chunk per rank, got ${chunks}`);
  const actions =
    schedule === "gpipe"
      ? gpipe(stages, microBatches)
      : schedule === "1f1b"
        ? oneForwardOneBackward(stages, microBatches)
        : schedule === "interleaved"
          ? interleaved(stages, microBatches, chunks)
          : null;
  if (actions === null) throw new RangeError(`planSchedule: unknown schedule ${JSON.stringify(schedule)}; expected one of ${SCHEDULES.join(", ")}`);
  return { schedule, stages, microBatches, chunks, actions };
}
