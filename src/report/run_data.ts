import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

import { z } from "zod";

import { ConfigError } from "../train/config_file.js";
import { runVersions } from "../train/run_folder.js";

/**
 * What `turbine report` reads from a run folder (src/train/run.ts writes them): config.json
 * (required: it is what makes a folder a run), metrics.jsonl (the MetricsFile callback's lines)
 * and summary.json (written when the run ends; absent while it is in progress).
 */

/**
 * A corrupt file in a run folder (exit 1): the message names the file, the line and what is wrong.
 * @example readRun("runs/cnn/version_0") // throws RunDataError("…/metrics.jsonl line 7: not a JSON record (…)")
 */
export class RunDataError extends Error {}

const trainRecord = z.object({
  type: z.literal("train"),
  step: z.number().int(),
  loss: z.number(),
  lr: z.number(),
  gradNorm: z.number().nullable().optional(),
  throughput: z.number(),
  dataWait: z.number(),
  trainSeconds: z.number(),
  // Runs written before these fields were logged have no memory plot.
  memoryBytes: z.number().optional(),
  peakMemoryBytes: z.number().optional(),
});

const evalRecord = z.object({ type: z.literal("eval"), step: z.number().int(), loss: z.number(), accuracy: z.number().optional() });

/** One logged training step of metrics.jsonl. */
export type TrainPoint = Omit<z.infer<typeof trainRecord>, "type">;
/** One evaluation of metrics.jsonl. */
export type EvalPoint = Omit<z.infer<typeof evalRecord>, "type">;

/** A run folder's contents, as the report shows them. */
export interface RunData {
  /** The folder as given. */
  dir: string;
  /** A short name: `<run name>/version_N`. */
  label: string;
  config: Record<string, unknown>;
  train: TrainPoint[];
  eval: EvalPoint[];
  /** The run's summary (RunSummary), or null while it runs (or when it failed). */
  summary: Record<string, unknown> | null;
}

/**
 * The run folders that `paths` name: each is a run folder (holding config.json) or a run name's
 * folder, which stands for all of its versions, oldest first. Anything else is a ConfigError.
 * @example runFolders(["runs/cnn"]) // ["runs/cnn/version_0", "runs/cnn/version_1"]
 */
export function runFolders(paths: readonly string[]): string[] {
  if (paths.length === 0) throw new ConfigError("no run folder given; give one or more, e.g. runs/cnn/version_0 (or runs/cnn for all its versions)");
  return paths.flatMap((path) => {
    if (isRun(path)) return [path];
    const versions = runVersions(path)
      .map((v) => join(path, `version_${v}`))
      .filter(isRun);
    if (versions.length > 0) return versions;
    const why = !existsSync(path) ? "it does not exist" : statSync(path).isDirectory() ? "no config.json in it" : "it is a file";
    throw new ConfigError(`${path} is not a run folder (${why}); give a run folder such as runs/cnn/version_0, or runs/cnn for all its versions`);
  });
}

const isRun = (dir: string): boolean => existsSync(join(dir, "config.json"));

/**
 * Reads one run folder. A missing metrics.jsonl is a run with no points yet; a line that is
 * not a record is a RunDataError, except a last line cut short (the run is writing it, or
 * crashed while it did), which is left out.
 * @example const run = readRun("runs/cnn/version_0"); run.train.at(-1)?.loss
 */
export function readRun(dir: string): RunData {
  if (!isRun(dir)) throw new ConfigError(`${dir} is not a run folder (no config.json in it)`);
  const config = readJsonObject(join(dir, "config.json"));
  const summaryPath = join(dir, "summary.json");
  const summary = existsSync(summaryPath) ? readJsonObject(summaryPath) : null;
  const { train, eval: evals } = readMetrics(join(dir, "metrics.jsonl"));
  const absolute = resolve(dir);
  return { dir, label: `${basename(dirname(absolute))}/${basename(absolute)}`, config, train, eval: evals, summary };
}

function readJsonObject(path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new RunDataError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new RunDataError(`${path}: expected a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * The train and eval records of a metrics file, in file order. Other record types (an elastic
 * launch's `segment` lines, or types a later version adds) are skipped.
 * @example readMetrics("runs/cnn/version_0/metrics.jsonl").train.length
 */
export function readMetrics(path: string): { train: TrainPoint[]; eval: EvalPoint[] } {
  const train: TrainPoint[] = [],
    evals: EvalPoint[] = [];
  if (!existsSync(path)) return { train, eval: evals };
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n");
  lines.forEach((line, index) => {
    if (line.trim() === "") return;
    const where = `${path} line ${index + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      if (index === lines.length - 1) return; // no newline after it yet: a line being written
      throw new RunDataError(`${where}: not a JSON record (${(error as Error).message})`);
    }
    const type = (record as { type?: unknown } | null)?.type;
    if (typeof type !== "string") throw new RunDataError(`${where}: expected an object with a "type" field, got ${line.slice(0, 80)}`);
    const schema = type === "train" ? trainRecord : type === "eval" ? evalRecord : null;
    if (schema === null) return;
    const parsed = schema.safeParse(record);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new RunDataError(`${where}: a ${type} record's ${issue.path.join(".") || "value"} is wrong: ${issue.message}`);
    }
    const { type: _, ...point } = parsed.data;
    if (type === "train") train.push(point as TrainPoint);
    else evals.push(point as EvalPoint);
  });
  return { train, eval: evals };
}
