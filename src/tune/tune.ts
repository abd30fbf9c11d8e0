import type { Config } from "../train/config.js";
import { LEVERS, type Lever, type TuneContext } from "./levers.js";
import type { Measure, Trial } from "./trial.js";

/** One lever's line of the tune table. */
export interface TuneRow {
  lever: string;
  /** What it changed (null when it does not apply). */
  what: string | null;
  /** Its trial, on top of the levers kept before it (null when it does not apply or its trial failed). */
  trial: Trial | null;
  /** Baseline seconds per step over this trial's. */
  speedup: number | null;
  /** Relative change of the validation loss against the baseline's (+0.01: 1% worse). */
  validationChange: number | null;
  kept: boolean;
  /** Why it was kept or not, in a few words. */
  reason: string;
}

export interface TuneResult {
  baseline: Trial;
  rows: TuneRow[];
  /** The baseline config with every kept lever. */
  config: Config;
  /** The trial of that config (the last kept lever's, or the baseline's). */
  tuned: Trial;
  /** Baseline seconds per step over the tuned config's. */
  factor: number;
}

export interface TuneOptions {
  measure: Measure;
  context: TuneContext;
  levers?: readonly Lever[];
  /** The most the validation loss may rise over the baseline's, relative (default 0.005: 0.5%). */
  tolerance?: number;
  /** The least share of the step a lever must save to count as faster rather than noise (default 0.02). */
  minGain?: number;
  /** Progress lines (a trial takes seconds). */
  log?: (line: string) => void;
}

/**
 * Accelerate, verify, adjust: measures the config (seconds per step, then a short validation),
 * then tries each lever that applies on top of those kept so far, and keeps it only when its
 * trial is faster than the best so far by at least `minGain` and its validation loss stays
 * within `tolerance` of the baseline's (a lower loss is fine). A lever whose trial fails (a
 * layout turbine refuses with another lever, memory) is reported and not kept.
 *
 * @example
 * const result = await tune(config, { measure: measureTrials({ warmup: 2, steps: 10, ranks: 1, threadsPerRank: 2 }), context });
 * result.factor   // 1.6: the tuned config's steps are 1.6× as fast
 */
export async function tune(config: Config, options: TuneOptions): Promise<TuneResult> {
  const { measure, context, levers = LEVERS, tolerance = 0.005, minGain = 0.02, log = () => {} } = options;
  log("tune: baseline");
  const baseline = await measure(config);
  let best = { config, trial: baseline };
  const rows: TuneRow[] = [];
  for (const lever of levers) {
    const change = lever.change(best.config, context);
    if (typeof change === "string") {
      rows.push({ lever: lever.name, what: null, trial: null, speedup: null, validationChange: null, kept: false, reason: `does not apply: ${change}` });
      continue;
    }
    log(`tune: ${lever.name} (${change.what})`);
    let trial: Trial;
    try {
      trial = await measure(change.config);
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      const reason = `failed: ${error.message.split("\n")[0]}`;
      rows.push({ lever: lever.name, what: change.what, trial: null, speedup: null, validationChange: null, kept: false, reason });
      continue;
    }
    const validationChange = (trial.validation - baseline.validation) / Math.abs(baseline.validation);
    const faster = trial.secondsPerStep < (1 - minGain) * best.trial.secondsPerStep;
    const verified = validationChange <= tolerance;
    const kept = faster && verified;
    const reason = kept
      ? "faster, validation within tolerance"
      : [
          faster ? null : `not ${Math.round(100 * minGain)}% faster than the best so far`,
          verified ? null : `validation ${percent(validationChange)} > ${percent(tolerance)}`,
        ]
          .filter((r) => r !== null)
          .join("; ");
    rows.push({ lever: lever.name, what: change.what, trial, speedup: baseline.secondsPerStep / trial.secondsPerStep, validationChange, kept, reason });
    if (kept) best = { config: change.config, trial };
  }
  return { baseline, rows, config: best.config, tuned: best.trial, factor: baseline.secondsPerStep / best.trial.secondsPerStep };
}

/** A relative change as a signed percentage: "+0.12%". */
export const percent = (change: number): string => `${change >= 0 ? "+" : "−"}${Math.abs(100 * change).toFixed(2)}%`;
