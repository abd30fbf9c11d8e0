import { performance } from "node:perf_hooks";

import { type OpObserver, setOpObserver } from "../autograd/observer.js";

export interface OpTiming {
  op: string;
  phase: "forward" | "backward";
  calls: number;
  /** Milliseconds inside the op, excluding ops it called (self time). */
  ms: number;
  share: number;
}

/**
 * Times every op by name and phase while fn runs: calls, self milliseconds (time in nested ops,
 * such as a composite backward rule's own ops, is charged to them) and share of the total.
 * Kernels are synchronous, so wall time around an op is the op's time.
 *
 * @example
 * const { table } = timeOps(() => trainStep(batch));
 * console.table(table);
 */
export function timeOps<T>(fn: () => T): { result: T; table: OpTiming[]; totalMs: number } {
  const totals = new Map<string, { op: string; phase: "forward" | "backward"; calls: number; ms: number }>();
  const stack: number[] = [];
  const observer: OpObserver = {
    around<R>(op: string, phase: "forward" | "backward", body: () => R): R {
      const start = performance.now();
      stack.push(0);
      try {
        return body();
      } finally {
        const elapsed = performance.now() - start;
        const nested = stack.pop()!;
        if (stack.length > 0) stack[stack.length - 1]! += elapsed;
        const key = `${phase}:${op}`;
        const entry = totals.get(key) ?? { op, phase, calls: 0, ms: 0 };
        entry.calls++;
        entry.ms += elapsed - nested;
        totals.set(key, entry);
      }
    },
  };
  const previous = setOpObserver(observer);
  const start = performance.now();
  let result: T;
  try {
    result = fn();
  } finally {
    setOpObserver(previous);
  }
  const totalMs = performance.now() - start;
  const table = [...totals.values()].map((e) => ({ ...e, share: e.ms / totalMs })).sort((a, b) => b.ms - a.ms);
  return { result, table, totalMs };
}

/** Formats timeOps' table, with the time outside any op (optimizer, data, the loop) last. */
export function formatOpTable(table: OpTiming[], totalMs: number): string {
  const opsMs = table.reduce((s, r) => s + r.ms, 0);
  const rows = [
    ...table.map((r) => [`${r.op} (${r.phase})`, String(r.calls), r.ms.toFixed(2), `${(100 * r.share).toFixed(1)}%`]),
    ["outside ops", "", (totalMs - opsMs).toFixed(2), `${(100 * (1 - opsMs / totalMs)).toFixed(1)}%`],
  ];
  const header = ["op", "calls", "total ms", "share"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}
