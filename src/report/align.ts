/** One line of a plot: its points as x and y values of equal length. */
export interface Points {
  x: readonly number[];
  y: readonly number[];
}

/**
 * The table uPlot draws: the sorted union of every line's x values, then each line's y at those
 * x values, null where it has no point (an outer join; runs log different steps). A line with
 * two points at one x keeps the later one, as a resumed run's metrics do.
 * @example alignPoints([{ x: [1, 2], y: [5, 6] }, { x: [2, 3], y: [7, 8] }]) // [[1, 2, 3], [5, 6, null], [null, 7, 8]]
 */
export function alignPoints(lines: readonly Points[]): [number[], ...(number | null)[][]] {
  const xs = [...new Set(lines.flatMap((l) => l.x))].sort((a, b) => a - b);
  const column = new Map(xs.map((x, i) => [x, i]));
  const ys = lines.map((line) => {
    const y: (number | null)[] = new Array(xs.length).fill(null);
    line.x.forEach((x, i) => {
      y[column.get(x)!] = line.y[i]!;
    });
    return y;
  });
  return [xs, ...ys];
}
