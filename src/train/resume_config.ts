import { join } from "node:path";

import type { Config } from "./config.js";
import { applyOverrides, ConfigError, parseConfig, readConfigFile } from "./config_file.js";

/**
 * The config of a resumed run: the run's own config.json, with `--set` overrides limited to the
 * fields that change neither the model, the data, the optimizer nor the schedule (the length of
 * the run included), so the continued run is the run that was started.
 */

/**
 * Fields (and groups of fields) a resumed run may change: cadences, logging, threads, workers,
 * the ZeRO stage and the tensor, pipeline and expert layouts.
 * @example RESUME_SAFE_FIELDS.includes("train.evalEvery") // true
 */
export const RESUME_SAFE_FIELDS = [
  "train.evalEvery",
  "train.logEvery",
  "train.threads",
  "train.earlyStopping",
  // A compiled step equals the eager one; compiling only changes how fast a step runs.
  "train.compile",
  "train.compileCacheSize",
  "checkpoint.every",
  "checkpoint.keep",
  "checkpoint.atEnd",
  "data.numWorkers",
  "data.prefetchFactor",
  "data.evalBatchSize",
  "data.cache",
  "logging",
  // The ZeRO stage changes where state lives, not the steps (every stage equals DDP), and
  // checkpoints reshard to any stage.
  "parallel.zero",
  // A tensor-parallel checkpoint holds the full model, cut again for any tensor size on load.
  "parallel.tensor",
  "parallel.sequenceParallel",
  // Pipeline and expert checkpoints hold every tensor whole, by name: any layout loads them;
  // micro-batches of equal size give the batch's mean loss whatever their number or schedule.
  "parallel.pipeline",
  "parallel.microBatches",
  "parallel.schedule",
  "parallel.virtualStages",
  "parallel.stageLayers",
  "parallel.expert",
] as const;

/**
 * Paths of the leaves where two parsed configs differ (arrays compare whole).
 * @example configDifferences(saved, asked) // ["train.evalEvery", "model.hidden"]
 */
export function configDifferences(a: unknown, b: unknown, path = ""): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => configDifferences(a[k], b[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

const isSafe = (path: string): boolean => RESUME_SAFE_FIELDS.some((safe) => path === safe || path.startsWith(`${safe}.`));

/**
 * Reads a run folder's config.json and applies `sets`; a change to any field outside
 * RESUME_SAFE_FIELDS is a ConfigError naming each such field with its saved and asked values.
 * @example const config = resumeConfig("runs/cnn/version_0", ["train.evalEvery=100"]);
 */
export function resumeConfig(runDir: string, sets: readonly string[]): Config {
  const file = join(runDir, "config.json");
  const saved = parseConfig(readConfigFile(file), file);
  const asked = parseConfig(applyOverrides(saved, sets), `${file} with --set`);
  const refused = configDifferences(saved, asked).filter((p) => !isSafe(p));
  if (refused.length > 0) {
    const value = (config: Config, path: string): string => JSON.stringify(path.split(".").reduce<any>((node, key) => node?.[key], config)) ?? "unset";
    const changes = refused.map((p) => `${p} (${value(saved, p)} → ${value(asked, p)})`).join(", ");
    throw new ConfigError(
      `--resume continues the run's saved config (${file}) and refuses changes to ${changes}; ` +
        `safe to change on resume: ${RESUME_SAFE_FIELDS.join(", ")} (start a new run to change the rest)`,
    );
  }
  return asked;
}
