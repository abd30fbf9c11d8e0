import { measureRun, type MeasuredRun } from "../plan/measured_run.js";
import { startThreads } from "../parallel/threads/spawn.js";
import type { Config } from "../train/config.js";

/** What one trial of a config measured: its speed and, after its steps, its validation loss. */
export interface Trial {
  secondsPerStep: number;
  validation: number;
}

/** Runs a trial of a config (tune.ts takes it as a parameter, so its decisions can be tested on constructed trials). */
export type Measure = (config: Config) => Promise<Trial>;

export interface TrialOptions {
  /** Untimed steps first (the optimizer state, the kernels' first calls). */
  warmup: number;
  /** Timed steps, after which the validation set is evaluated. */
  steps: number;
  /** Ranks of the threads backend (1: this process). */
  ranks: number;
  /** OpenMP threads per rank. */
  threadsPerRank: number;
}

/**
 * Real trials: the config trained from its seed for `warmup` + `steps` steps as `turbine train`
 * (or, with ranks, `turbine launch` on the threads backend) would, its seconds per step over the
 * timed steps (the slowest rank's) and then its validation loss (rank 0's). Every trial starts
 * from the same initialization and data order, so their validations differ only by what the
 * levers change.
 *
 * @example const measure = measureTrials({ warmup: 2, steps: 10, ranks: 1, threadsPerRank: 2 }); const trial = await measure(config);
 */
export function measureTrials(options: TrialOptions): Measure {
  const { warmup, steps, ranks, threadsPerRank } = options;
  return async (config) => {
    let runs: MeasuredRun[];
    if (ranks === 1) runs = [measureRun(config, undefined, { warmup, steps, validate: true })];
    else {
      const job = startThreads({
        size: ranks,
        module: new URL("../plan/measured_run_rank.js", import.meta.url),
        args: { config, warmup, steps, validate: true },
        threadsPerWorker: threadsPerRank,
      });
      runs = (await job.done).map((outcome) => {
        if (!outcome.ok) throw outcome.error;
        return outcome.result as MeasuredRun;
      });
    }
    return { secondsPerStep: Math.max(...runs.map((r) => r.secondsPerStep)), validation: runs[0]!.validation! };
  };
}
