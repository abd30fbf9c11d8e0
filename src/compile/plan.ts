/**
 * The rewrite of a recording before replay: dead entries removed (a kernel or host write whose
 * every result is a temporary nothing reads later, such as a cast whose result went unused),
 * then every temporary placed in one arena by liveness, so temporaries whose lifetimes do not
 * overlap share bytes and a replay allocates nothing.
 */
import { type Entry, flatEntries, type SectionEntry, type Trace } from "./trace.js";

/** Where each temporary lives in the arena, and the arena's size. */
export interface ArenaPlan {
  /** Byte offset of each temporary (by id; -1 for one that no entry uses). */
  readonly offsets: readonly number[];
  readonly bytes: number;
}

/** The arena's alignment: a cache line, as the buffer pool's. */
const ALIGN = 64;

/**
 * The trace's entries without the dead ones, and how many were removed. Hooks, host parts, sections and
 * whatever writes memory that outlives the step are kept; a temporary read later, handed back
 * or returned keeps its writers.
 * @example const { entries, removed } = withoutDeadEntries(trace);
 */
export function withoutDeadEntries(trace: Trace): { entries: Entry[]; removed: number } {
  const needed = new Set<number>();
  for (const o of trace.outputs) needed.add(o.operand.temp);
  for (const h of trace.handouts) needed.add(h.grad.operand.temp);
  let removed = 0;
  // One pass from the end: an entry lives when it writes something needed later or outside the
  // temporaries; its reads are then needed. Writes never end a temporary's liveness here (a
  // partial write may leave earlier elements in place), which keeps this one pass exact.
  const visit = (entries: readonly Entry[]): Entry[] => {
    const kept: Entry[] = [];
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      if (e.kind === "section") {
        kept.push({ ...e, entries: visit(e.entries) } satisfies SectionEntry);
        continue;
      }
      const live = e.kind === "hook" || e.kind === "host" || e.writesOutside || e.writes.some((t) => needed.has(t));
      if (!live) {
        removed++;
        continue;
      }
      for (const t of e.reads) needed.add(t);
      kept.push(e);
    }
    return kept.reverse();
  };
  return { entries: visit(trace.entries), removed };
}

/**
 * First-fit placement of the temporaries by liveness (first to last use, in the order the
 * entries run): largest first, each at the lowest aligned offset free for its whole lifetime.
 * Outputs and handed-back gradients live to the end.
 * @example const plan = planArena(trace, entries); plan.bytes
 */
export function planArena(trace: Trace, entries: readonly Entry[]): ArenaPlan {
  const first = new Array<number>(trace.temps.length).fill(-1);
  const last = new Array<number>(trace.temps.length).fill(-1);
  let position = 0;
  const use = (t: number): void => {
    if (first[t] === -1) first[t] = position;
    last[t] = position;
  };
  for (const e of flatEntries(entries)) {
    position++;
    if (e.kind === "section") continue;
    for (const t of e.reads) use(t);
    for (const t of e.writes) use(t);
    if (e.kind === "kernel") for (const a of e.args) if (a.kind === "temp") use(a.temp);
    if (e.kind !== "kernel" && e.kind !== "hook" && e.kind !== "host") {
      if (e.target.kind === "temp") use(e.target.temp);
      if (e.source?.kind === "temp") use(e.source.temp);
    }
  }
  const end = position + 1;
  for (const o of trace.outputs) {
    if (first[o.operand.temp] === -1) first[o.operand.temp] = end;
    last[o.operand.temp] = end;
  }
  for (const h of trace.handouts) {
    if (first[h.grad.operand.temp] === -1) first[h.grad.operand.temp] = end;
    last[h.grad.operand.temp] = end;
  }
  const order = trace.temps.map((_, id) => id).filter((id) => first[id] !== -1);
  order.sort((a, b) => trace.temps[b]!.bytes - trace.temps[a]!.bytes || a - b);
  const offsets = new Array<number>(trace.temps.length).fill(-1);
  const placed: { start: number; end: number; first: number; last: number }[] = [];
  let bytes = 0;
  for (const id of order) {
    const size = Math.ceil(trace.temps[id]!.bytes / ALIGN) * ALIGN;
    const overlapping = placed.filter((p) => p.first <= last[id]! && first[id]! <= p.last).sort((a, b) => a.start - b.start);
    let offset = 0;
    for (const p of overlapping) {
      if (offset + size <= p.start) break;
      offset = Math.max(offset, p.end);
    }
    offsets[id] = offset;
    placed.push({ start: offset, end: offset + size, first: first[id]!, last: last[id]! });
    bytes = Math.max(bytes, offset + size);
  }
  return { offsets, bytes };
}
