import type { CollectiveKind } from "../parallel/wrapped_group.js";
import { MEMORY_CATEGORIES, type MemoryCategory } from "../tensor/memory.js";
import { type Interval, intersect, measure, subtract, union } from "./intervals.js";
import type { Recording } from "./recorder.js";

/** Where a step's time went, as shares of the profiled time (they sum to 1). */
export interface TimeShares {
  /** Ops (forward and backward), a compiled step's replay and the optimizer's update, less any collective waits inside them. */
  compute: number;
  /** Waiting for the step's batches (with 0 loader workers: making them). */
  data: number;
  /** Blocked in collectives: the communication that compute did not hide. */
  communication: number;
  /** The rest: the framework between ops (autograd bookkeeping, the loop, callbacks). */
  overhead: number;
}

/** One op's self time (time in ops it called is theirs), per profiled step. */
export interface OpRow {
  op: string;
  phase: "forward" | "backward";
  callsPerStep: number;
  msPerStep: number;
  /** Of the profiled time. */
  share: number;
}

/** One kind of collective, per profiled step. */
export interface CollectiveRow {
  kind: CollectiveKind;
  callsPerStep: number;
  bytesPerStep: number;
  /** From issue to completion, summed over its calls. */
  msPerStep: number;
  /** The thread blocked in its calls and waits. */
  blockedMsPerStep: number;
  /** Share of its issue-to-completion time during which this rank was computing. */
  overlapped: number;
}

/** One rank's profile of the recorded steps. */
export interface RankProfile {
  rank: number;
  steps: number;
  stepMs: number;
  shares: TimeShares;
  /** The optimizer's update, per step (inside compute). */
  optimizerMsPerStep: number;
  ops: OpRow[];
  collectives: CollectiveRow[];
  /** Tracker peaks over the profiled steps, by category, and `total` at once. */
  peakBytes: Record<MemoryCategory | "total", number>;
}

/**
 * Splits the recorded steps' time by what covered each instant, in priority order: blocked in
 * a collective, then waiting for data, then computing (an op or the optimizer's update), else
 * overhead; aggregates ops by name and phase (self time) and collectives by kind, with each
 * collective's overlap with compute.
 * @example const profile = rankProfile(recorder.recording(), group?.rank ?? 0);
 */
export function rankProfile(rec: Recording, rank: number): RankProfile {
  const steps = rec.steps.length;
  if (steps === 0) throw new Error("profile: no training step was recorded (the run ended during the warm-up steps)");
  const window = union(rec.steps);
  const span = measure(window);
  const inWindow = (xs: Iterable<Interval>): Interval[] => intersect(union(xs), window);
  const blocked = inWindow(rec.blocked.map((b) => [b.start, b.end] as const));
  const data = subtract(inWindow(rec.data), blocked);
  const busy = inWindow([...rec.ops.filter((o) => o.depth === 0).map((o) => [o.start, o.end] as const), ...rec.optimizer, ...rec.replay]);
  const compute = subtract(subtract(busy, blocked), data);
  const shares = {
    compute: measure(compute) / span,
    data: measure(data) / span,
    communication: measure(blocked) / span,
    overhead: 0,
  };
  shares.overhead = Math.max(0, 1 - shares.compute - shares.data - shares.communication);
  return {
    rank,
    steps,
    stepMs: span / steps,
    shares,
    optimizerMsPerStep: measure(inWindow(rec.optimizer)) / steps,
    ops: opRows(rec, steps, span),
    collectives: collectiveRows(rec, steps, compute),
    peakBytes: { ...rec.memoryReport.peak, total: rec.memoryReport.peakTotal },
  };
}

function opRows(rec: Recording, steps: number, span: number): OpRow[] {
  // Self time: an op's time less its direct children's (sorted by start, a parent before its children).
  const ops = [...rec.ops].sort((a, b) => a.start - b.start || b.end - a.end || a.depth - b.depth);
  const self = new Map<(typeof ops)[number], number>();
  const stack: (typeof ops)[number][] = [];
  for (const o of ops) {
    while (stack.length > 0 && stack.at(-1)!.end <= o.start) stack.pop();
    const parent = stack.at(-1);
    if (parent && o.depth > parent.depth) self.set(parent, self.get(parent)! - (o.end - o.start));
    self.set(o, (self.get(o) ?? 0) + (o.end - o.start));
    stack.push(o);
  }
  const rows = new Map<string, OpRow>();
  for (const [o, ms] of self) {
    const key = `${o.phase}:${o.op}`;
    const row = rows.get(key) ?? { op: o.op, phase: o.phase, callsPerStep: 0, msPerStep: 0, share: 0 };
    row.callsPerStep += 1 / steps;
    row.msPerStep += ms / steps;
    row.share += ms / span;
    rows.set(key, row);
  }
  return [...rows.values()].sort((a, b) => b.msPerStep - a.msPerStep);
}

function collectiveRows(rec: Recording, steps: number, compute: readonly Interval[]): CollectiveRow[] {
  const rows = new Map<CollectiveKind, CollectiveRow & { overlappedMs: number }>();
  for (const c of rec.collectives) {
    const row = rows.get(c.kind) ?? { kind: c.kind, callsPerStep: 0, bytesPerStep: 0, msPerStep: 0, blockedMsPerStep: 0, overlapped: 0, overlappedMs: 0 };
    row.callsPerStep += 1 / steps;
    row.bytesPerStep += c.bytes / steps;
    row.msPerStep += (c.end - c.start) / steps;
    row.overlappedMs += measure(intersect([[c.start, c.end]], compute));
    rows.set(c.kind, row);
  }
  for (const b of rec.blocked) {
    const row = rows.get(b.kind);
    if (row) row.blockedMsPerStep += (b.end - b.start) / steps;
  }
  return [...rows.values()]
    .map(({ overlappedMs, ...row }) => ({ ...row, overlapped: row.msPerStep > 0 ? overlappedMs / steps / row.msPerStep : 0 }))
    .sort((a, b) => b.msPerStep - a.msPerStep);
}

/**
 * The category holding the most bytes at the peak, among those a lever acts on.
 * @example dominantCategory({ parameter: 1, gradient: 1, optimizer: 2, activation: 9, other: 0, total: 13 }) // "activation"
 */
export function dominantCategory(peak: Record<MemoryCategory | "total", number>): MemoryCategory {
  return MEMORY_CATEGORIES.filter((c) => c !== "other").reduce((best, c) => (peak[c] > peak[best] ? c : best), "activation" as MemoryCategory);
}
