import { performance } from "node:perf_hooks";

import type { Recording } from "./recorder.js";

/**
 * A Chrome trace event (the trace-event format Perfetto and chrome://tracing open): "X" a
 * complete event with its duration, "C" a counter sample, "M" a name for a process or thread.
 * Times are microseconds.
 */
export interface TraceEvent {
  name: string;
  ph: "X" | "C" | "M";
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  cat?: string;
  args?: Record<string, number | string>;
}

/** The training thread's track; collectives in flight get the tracks after it, one per concurrent one. */
const MAIN_TID = 0;
/** Waits shorter than this (a Work polled between backward's nodes) stay out of the trace; the breakdown counts them. */
const SHORTEST_WAIT_US = 5;
/** The first loader worker's track. */
const LOADER_TID = 1000;

/**
 * One rank's trace events: pid = rank; on the training thread's track every op (cat forward or
 * backward), the step, data-wait and optimizer regions and the waits in collectives; each
 * collective from issue to completion on a communication track (with its bytes); each batch a
 * loader worker made on that worker's track; the memory
 * tracker's timeline by category as a counter. Timestamps are wall-clock microseconds, so ranks
 * in other threads or processes line up.
 * @example const events = rankTraceEvents(recorder.recording(), 0);
 */
export function rankTraceEvents(rec: Recording, rank: number): TraceEvent[] {
  const us = (ms: number): number => Math.round((performance.timeOrigin + ms) * 1000);
  const x = (name: string, cat: string, start: number, end: number, tid = MAIN_TID, args?: TraceEvent["args"]): TraceEvent => ({
    name,
    cat,
    ph: "X",
    pid: rank,
    tid,
    ts: us(start),
    dur: Math.max(0, us(end) - us(start)),
    ...(args ? { args } : {}),
  });
  const events: TraceEvent[] = [
    { name: "process_name", ph: "M", pid: rank, tid: MAIN_TID, ts: 0, args: { name: `rank ${rank}` } },
    { name: "process_sort_index", ph: "M", pid: rank, tid: MAIN_TID, ts: 0, args: { sort_index: rank } },
    { name: "thread_name", ph: "M", pid: rank, tid: MAIN_TID, ts: 0, args: { name: "training thread" } },
  ];
  rec.steps.forEach(([s, e], i) => events.push(x(`step ${i + 1}`, "step", s, e)));
  for (const [s, e] of rec.data) events.push(x("data wait", "data", s, e));
  for (const [s, e] of rec.optimizer) events.push(x("optimizer", "optimizer", s, e));
  for (const [s, e] of rec.replay) events.push(x("compiled step", "replay", s, e));
  for (const o of rec.ops) events.push(x(o.op, o.phase, o.start, o.end));
  for (const b of rec.blocked) if ((b.end - b.start) * 1000 >= SHORTEST_WAIT_US) events.push(x(`${b.how} ${b.kind}`, "communication", b.start, b.end));
  // Collectives in flight may overlap one another: each goes to the first track free at its issue.
  const trackEnds: number[] = [];
  for (const c of [...rec.collectives].sort((a, b) => a.start - b.start)) {
    let lane = trackEnds.findIndex((end) => end <= c.start);
    if (lane < 0) {
      lane = trackEnds.length;
      events.push({ name: "thread_name", ph: "M", pid: rank, tid: MAIN_TID + 1 + lane, ts: 0, args: { name: `collectives ${lane + 1}` } });
    }
    trackEnds[lane] = c.end;
    events.push(x(c.kind, "collective", c.start, c.end, MAIN_TID + 1 + lane, { bytes: c.bytes }));
  }
  // Each loader worker gets its own track, after the collectives'.
  const workers = [...new Set(rec.loader.map((b) => b.worker))].sort((a, b) => a - b);
  for (const w of workers) events.push({ name: "thread_name", ph: "M", pid: rank, tid: LOADER_TID + w, ts: 0, args: { name: `loader worker ${w}` } });
  for (const b of rec.loader) events.push(x("make batch", "loader", b.start, b.end, LOADER_TID + b.worker));
  for (const m of rec.memory) events.push({ name: "memory (bytes)", ph: "C", pid: rank, tid: MAIN_TID, ts: us(m.t), args: { ...m.bytes } });
  return events;
}

/** What capping a trace left out. */
export interface TraceCap {
  /** The cap, in bytes of JSON. */
  maxBytes: number;
  /** Op events dropped, shortest first. */
  droppedOps: number;
  /** The longest op dropped, microseconds (0 when none was). */
  droppedUpToUs: number;
  /** Memory counter samples dropped (every other one, repeatedly), when dropping every op was not enough. */
  droppedCounters: number;
}

const sizeOf = (e: TraceEvent): number => JSON.stringify(e).length + 1;

/**
 * Keeps a trace under `maxBytes` of JSON by dropping op events, the shortest first (the long
 * ones are what a reader looks for; Kineto's traces of every event grow past what a viewer
 * renders), then, if that is not enough, every other memory sample. Regions, collectives and
 * names are kept.
 * @example const { events, cap } = capTrace(events, 20e6);
 */
export function capTrace(events: readonly TraceEvent[], maxBytes: number): { events: TraceEvent[]; cap: TraceCap } {
  let total = events.reduce((sum, e) => sum + sizeOf(e), 0);
  const cap: TraceCap = { maxBytes, droppedOps: 0, droppedUpToUs: 0, droppedCounters: 0 };
  if (total <= maxBytes) return { events: [...events], cap };
  const ops = events.filter((e) => e.cat === "forward" || e.cat === "backward").sort((a, b) => a.dur! - b.dur!);
  const dropped = new Set<TraceEvent>();
  for (const e of ops) {
    if (total <= maxBytes) break;
    dropped.add(e);
    total -= sizeOf(e);
    cap.droppedOps++;
    cap.droppedUpToUs = e.dur!;
  }
  let counters = events.filter((e) => e.ph === "C");
  while (total > maxBytes && counters.length > 1) {
    const halved = counters.filter((_, i) => i % 2 === 0);
    for (const e of counters.filter((_, i) => i % 2 === 1)) {
      dropped.add(e);
      total -= sizeOf(e);
      cap.droppedCounters++;
    }
    counters = halved;
  }
  return { events: events.filter((e) => !dropped.has(e)), cap };
}
