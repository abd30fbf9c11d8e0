/**
 * Time intervals [start, end) in milliseconds and the set arithmetic the profiler's breakdown
 * needs: a step's time is split by what covered each instant (a collective's wait, the data
 * wait, an op), so nested and overlapping records are counted once.
 */
export type Interval = readonly [start: number, end: number];

/**
 * The union of intervals as sorted, disjoint intervals (empty ones dropped).
 * @example union([[0, 2], [1, 3], [5, 6]]) // [[0, 3], [5, 6]]
 */
export function union(intervals: Iterable<Interval>): Interval[] {
  const sorted = [...intervals].filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [s, e] of sorted) {
    const last = out.at(-1);
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/**
 * Total length of sorted, disjoint intervals.
 * @example measure([[0, 3], [5, 6]]) // 4
 */
export function measure(intervals: readonly Interval[]): number {
  return intervals.reduce((sum, [s, e]) => sum + (e - s), 0);
}

/**
 * The parts of `a` inside `b` (both sorted and disjoint).
 * @example intersect([[0, 10]], [[2, 3], [8, 12]]) // [[2, 3], [8, 10]]
 */
export function intersect(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let j = 0;
  for (const [s, e] of a) {
    while (j < b.length && b[j]![1] <= s) j++;
    for (let k = j; k < b.length && b[k]![0] < e; k++) {
      const lo = Math.max(s, b[k]![0]),
        hi = Math.min(e, b[k]![1]);
      if (hi > lo) out.push([lo, hi]);
    }
  }
  return out;
}

/**
 * The parts of `a` outside `b` (both sorted and disjoint).
 * @example subtract([[0, 10]], [[2, 3], [8, 12]]) // [[0, 2], [3, 8]]
 */
export function subtract(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let j = 0;
  for (const [s, e] of a) {
    while (j < b.length && b[j]![1] <= s) j++;
    let from = s;
    for (let k = j; k < b.length && b[k]![0] < e; k++) {
      if (b[k]![0] > from) out.push([from, b[k]![0]]);
      from = Math.max(from, b[k]![1]);
    }
    if (from < e) out.push([from, e]);
  }
  return out;
}
