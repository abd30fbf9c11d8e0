/**
 * Data wait with worker threads: the cnn workload (batch 128) with random crop and flip, its
 * batches made in the training thread (0 workers) or by `--workers` worker threads (default
 * 1), alternating for `--rounds` rounds (which goes first alternates too). Each run trains
 * `--warmup` steps untimed (worker start-up, primitive caches) and `--steps` timed ones, and
 * reports the median step time (data wait included) and the share of the timed time the
 * training thread spent waiting for batches; the table gives the medians over rounds and the
 * ratio of the two step times.
 *
 *   npx tsc -p . && node dist/bench/data_wait.js [--threads N] [--workers N] [--rounds N] [--steps N] [--warmup N] [--json]
 */
import { benchOptions, median, report } from "./harness.js";
import { augmentedCnn, summarise, timeTraining } from "./data_common.js";

const { ints, json } = benchOptions("data_wait", { workers: 1, rounds: 5, steps: 60, warmup: 15 });
const { workers, rounds, steps, warmup } = ints;
const results: Record<number, { stepMs: number[]; waitShare: number[] }> = { 0: { stepMs: [], waitShare: [] }, [workers]: { stepMs: [], waitShare: [] } };
for (let round = 0; round < rounds; round++) {
  for (const w of round % 2 === 0 ? [0, workers] : [workers, 0]) {
    const s = summarise(timeTraining(augmentedCnn(warmup + steps, w), warmup));
    results[w]!.stepMs.push(s.stepMs);
    results[w]!.waitShare.push(s.waitShare);
    process.stderr.write(`round ${round + 1}/${rounds}, ${w} workers: step ${s.stepMs.toFixed(2)} ms, data wait ${(100 * s.waitShare).toFixed(2)}%\n`);
  }
}
const base = median(results[0]!.stepMs);
report(
  [0, workers].map((w) => ({
    workers: w,
    stepMs: median(results[w]!.stepMs),
    waitPct: 100 * median(results[w]!.waitShare),
    speedup: base / median(results[w]!.stepMs),
  })),
  [
    ["workers", "workers"],
    ["stepMs", "step ms (median)"],
    ["waitPct", "data wait % of step"],
    ["speedup", "step time vs 0 workers ×"],
  ],
  json,
);
