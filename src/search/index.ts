/** Hyperparameter and architecture search: random search, ASHA, Hyperband and PBT over any config field. */
export { runSearch, checkSearchOptions, type SearchOptions } from "./search.js";
export { readSearchSpace, parseSearchSpace, checkSpaceFits, sampleParams, perturbParams, paramSets, type Dimension, type Params } from "./space.js";
export { SuccessiveHalving, promotion, rungSteps, defaultMinSteps, type SuccessiveHalvingOptions } from "./successive_halving.js";
export { PopulationBasedTraining, chooseDonor, type PbtOptions, type Standing } from "./pbt.js";
export { RandomSearch } from "./random_search.js";
export { SCHEDULER_KINDS, type Job, type Scheduler, type SchedulerKind, type SegmentResult } from "./scheduler.js";
export { readSearchLog, SearchLogError, type SearchEvent, type SearchHistory } from "./search_log.js";
export { summarizeTrials, formatSearchTable, type SearchOutcome, type TrialSummary } from "./trial_summary.js";
export { seededRandom, type Random } from "./random.js";
