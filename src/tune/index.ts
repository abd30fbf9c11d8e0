/**
 * `turbine tune`: accelerate, verify, adjust. A measured baseline, then each lever that applies
 * (bf16, loader workers, batch size with accumulation, checkpointing, compression, the planner's
 * layout), kept only when faster with the validation loss within tolerance of the baseline's.
 *
 * @example
 * import { tune } from "turbine";
 * const result = await tune.tune(config, { measure: tune.measureTrials({ warmup: 2, steps: 10, ranks: 1, threadsPerRank: 2 }), context });
 */
export { LEVERS, type Lever, type TuneContext } from "./levers.js";
export { measureTrials, type Measure, type Trial, type TrialOptions } from "./trial.js";
export { tune, percent, type TuneOptions, type TuneResult, type TuneRow } from "./tune.js";
export { writeTunedConfig, formatTune, TUNED_CONFIG_EXTENSIONS } from "./tuned_config.js";
