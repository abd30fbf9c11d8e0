/**
 * How an elastic job keeps its global batch when it restarts on fewer ranks: global batch =
 * ranks × data.batchSize × train.accumulate, so the lost ranks' share goes into more
 * accumulation (or, failing that, a larger per-rank batch) when the numbers divide.
 */

/** The batch layout of a data-parallel job. */
export interface BatchLayout {
  /** Data-parallel ranks (the world size over tensor × pipeline). */
  ranks: number;
  /** data.batchSize: samples per rank per micro-batch. */
  batchSize: number;
  /** train.accumulate: micro-batches per optimizer step. */
  accumulate: number;
}

/** The layout on a new world size: whether the global batch is kept, and what changed, in words. */
export interface Relayout {
  layout: BatchLayout;
  kept: boolean;
  /** One line for the user and metrics.jsonl; null when nothing changed. */
  change: string | null;
}

/**
 * The layout for `ranks` data-parallel ranks that keeps `from`'s global batch: more accumulation when
 * ranks divides from.ranks × from.accumulate, else a larger data.batchSize when that divides,
 * else the same per-rank layout with a smaller global batch (said in `change`).
 * @example keepGlobalBatch({ ranks: 4, batchSize: 8, accumulate: 1 }, 2) // { layout: { ranks: 2, batchSize: 8, accumulate: 2 }, kept: true, change: "..." }
 */
export function keepGlobalBatch(from: BatchLayout, ranks: number): Relayout {
  if (!Number.isSafeInteger(ranks) || ranks < 1) throw new RangeError(`keepGlobalBatch: ranks must be a positive integer, got ${ranks}`);
  const global = from.ranks * from.batchSize * from.accumulate;
  const world = `data-parallel ranks ${from.ranks} → ${ranks}`;
  if (ranks === from.ranks) return { layout: { ...from }, kept: true, change: null };
  const microBatches = from.ranks * from.accumulate;
  if (microBatches % ranks === 0) {
    const accumulate = microBatches / ranks;
    return {
      layout: { ranks, batchSize: from.batchSize, accumulate },
      kept: true,
      change: `${world}: train.accumulate ${from.accumulate} → ${accumulate} keeps the global batch of ${global}`,
    };
  }
  if (global % (ranks * from.accumulate) === 0) {
    const batchSize = global / (ranks * from.accumulate);
    return {
      layout: { ranks, batchSize, accumulate: from.accumulate },
      kept: true,
      change: `${world}: data.batchSize ${from.batchSize} → ${batchSize} keeps the global batch of ${global}`,
    };
  }
  const smaller = ranks * from.batchSize * from.accumulate;
  return {
    layout: { ranks, batchSize: from.batchSize, accumulate: from.accumulate },
    kept: false,
    change: `${world}: the global batch ${global} does not divide over ${ranks} ranks; it becomes ${smaller} (${ranks} × ${from.batchSize} × ${from.accumulate})`,
  };
}
