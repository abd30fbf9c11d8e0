import type { SegmentResult } from "./scheduler.js";
import { type Params, paramSets } from "./space.js";

/** Where each trial ended, from its segments' results. */
export interface TrialSummary {
  trial: number;
  params: Params;
  /** The step its last segment reached (a failed one: the step it started from). */
  steps: number;
  loss: number | null;
  accuracy: number | null;
  /** Higher is better (accuracy, or minus the loss); null for a failed trial. */
  score: number | null;
  /** done: trained to the budget; stopped: a scheduler went on without it; failed: training failed. */
  status: "done" | "stopped" | "failed";
  bracket?: number;
  /** PBT: the trials whose checkpoints it copied, in order. */
  copiedFrom: number[];
  error?: string;
}

/** A search's outcome: its trials best first, and the steps it trained in all. */
export interface SearchOutcome {
  trials: TrialSummary[];
  best: TrialSummary | null;
  /** Optimizer steps trained over every finished segment (a segment cut short and run again counts once). */
  totalSteps: number;
  /** Why the search stopped before its end (it can be continued), or null. */
  interrupted: string | null;
  outDir: string;
}

/**
 * Each trial's standing after its last result, best first, and the steps trained in all.
 * @example const outcome = summarizeTrials(results, { maxSteps: 270, metric: "accuracy", interrupted: null, outDir: "runs/search" });
 */
export function summarizeTrials(
  results: readonly SegmentResult[],
  o: { maxSteps: number; metric: "accuracy" | "loss"; interrupted: string | null; outDir: string },
): SearchOutcome {
  const trials = new Map<number, TrialSummary>();
  let totalSteps = 0;
  for (const r of results) {
    const { job } = r;
    if (r.score !== null) totalSteps += job.toStep - job.fromStep;
    const copiedFrom = [...(trials.get(job.trial)?.copiedFrom ?? []), ...(job.copyFrom ? [job.copyFrom.trial] : [])];
    trials.set(job.trial, {
      trial: job.trial,
      params: job.params,
      // A failed segment did not reach its end; the step it started from is the last one known good.
      steps: r.score === null ? job.fromStep : job.toStep,
      loss: r.loss,
      accuracy: r.accuracy,
      score: r.score,
      status: r.score === null ? "failed" : job.toStep >= o.maxSteps ? "done" : "stopped",
      ...(job.bracket !== undefined ? { bracket: job.bracket } : {}),
      copiedFrom,
      ...(r.error ? { error: r.error } : {}),
    });
  }
  // Trials at the budget rank first: a score at a lower rung is not comparable.
  const ranked = [...trials.values()].sort((a, b) => b.steps - a.steps || (b.score ?? -Infinity) - (a.score ?? -Infinity) || a.trial - b.trial);
  const best = ranked.find((t) => t.score !== null) ?? null;
  return { trials: ranked, best, totalSteps, interrupted: o.interrupted, outDir: o.outDir };
}

/**
 * The results table: one row per trial (best first), its values, steps, loss, accuracy and
 * status; then the best trial and the line that trains it again.
 * @example process.stdout.write(formatSearchTable(outcome, "cnn.json"));
 */
export function formatSearchTable(outcome: SearchOutcome, configSource: string): string {
  const paths = [...new Set(outcome.trials.flatMap((t) => Object.keys(t.params)))];
  const value = (v: unknown): string => (typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(3) : JSON.stringify(v));
  const header = ["trial", ...paths, "steps", "loss", "accuracy", "status"];
  const rows = outcome.trials.map((t) => [
    String(t.trial),
    ...paths.map((p) => (p in t.params ? value(t.params[p]) : "")),
    String(t.steps),
    t.loss === null ? "-" : t.loss.toFixed(4),
    t.accuracy === null ? "-" : `${(100 * t.accuracy).toFixed(2)}%`,
    t.status === "failed" ? `failed: ${t.error ?? ""}` : `${t.status}${t.copiedFrom.length > 0 ? ` (copied ${t.copiedFrom.join(", ")})` : ""}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  const lines = [line(header), ...rows.map(line), `steps trained in all: ${outcome.totalSteps}`];
  if (outcome.best) {
    const sets = paramSets(outcome.best.params).map((s) => `--set '${s}'`);
    lines.push(
      `best: trial ${outcome.best.trial}; train it again with: turbine train ${configSource} ${sets.join(" ")} --set train.steps=${outcome.best.steps}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
