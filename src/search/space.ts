import { parse as parseYaml } from "yaml";
import { readFileSync } from "node:fs";

import { applyOverrides, ConfigError, parseConfig } from "../train/config_file.js";
import type { Random } from "./random.js";

/**
 * The search space: config fields by dotted path (any field, so `model.*` too: architecture
 * search), each a list of choices or a range, read from a YAML or JSON file:
 *
 *     optimizer.lr: { loguniform: [1.0e-4, 1.0e-2] }
 *     optimizer.weightDecay: { uniform: [0, 0.1] }
 *     model.hidden: { int: [32, 256] }
 *     model.channels: { choice: [[16, 32], [32, 64]] }
 */

/** One searched field: a list of choices, or a uniform, log-uniform or integer range (ends included). */
export type Dimension =
  | { path: string; kind: "choice"; values: unknown[] }
  | { path: string; kind: "uniform" | "loguniform" | "int"; low: number; high: number };

/** A trial's values: config path → value, in the space's order. */
export type Params = Record<string, unknown>;

/** Fields the search sets itself, so a space may not hold them. */
const SEARCH_OWNED = ["train.steps", "train.epochs", "checkpoint.atEnd", "outDir", "name"];

const FORMS = "{ choice: [a, b, ...] }, { uniform: [low, high] }, { loguniform: [low, high] } (low > 0) or { int: [low, high] }";

/**
 * Reads a space file (YAML for .yaml/.yml, else JSON); every problem is a ConfigError of one line
 * naming the file, the field and what is allowed.
 * @example const space = readSearchSpace("space.yaml");
 */
export function readSearchSpace(file: string): Dimension[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`space ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`space ${file}: not valid ${/\.ya?ml$/i.test(file) ? "YAML" : "JSON"}: ${(error as Error).message.split("\n")[0]}`);
  }
  return parseSearchSpace(raw, file);
}

/**
 * Checks a space's shape: a mapping of dotted config paths to one form each.
 * @example parseSearchSpace({ "optimizer.lr": { loguniform: [1e-4, 1e-2] } }, "inline")
 */
export function parseSearchSpace(raw: unknown, source: string): Dimension[] {
  const fail = (what: string): never => {
    throw new ConfigError(`space ${source}: ${what}`);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(`expected a mapping of config paths (e.g. optimizer.lr) to ${FORMS}`);
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length === 0) fail("no fields to search; give at least one, e.g. optimizer.lr: { loguniform: [1.0e-4, 1.0e-2] }");
  return entries.map(([path, spec]) => {
    if (SEARCH_OWNED.includes(path)) fail(`${path}: set by the search itself (--max-steps sets train.steps), so it cannot be searched`);
    const keys = typeof spec === "object" && spec !== null && !Array.isArray(spec) ? Object.keys(spec) : [];
    if (keys.length !== 1) fail(`${path}: got ${JSON.stringify(spec)}; expected ${FORMS}`);
    const kind = keys[0]!;
    const value = (spec as Record<string, unknown>)[kind];
    if (kind === "choice") {
      if (!Array.isArray(value) || value.length === 0) fail(`${path}: choice needs a non-empty list, got ${JSON.stringify(value)}`);
      return { path, kind, values: value as unknown[] };
    }
    if (kind !== "uniform" && kind !== "loguniform" && kind !== "int") fail(`${path}: unknown form '${kind}'; expected ${FORMS}`);
    const range = value as unknown[];
    const ok = Array.isArray(range) && range.length === 2 && range.every((v) => typeof v === "number" && Number.isFinite(v));
    if (!ok) fail(`${path}: ${kind} needs [low, high] numbers, got ${JSON.stringify(value)}`);
    const [low, high] = range as [number, number];
    if (low > high) fail(`${path}: ${kind} range [${low}, ${high}] has low > high`);
    if (kind === "loguniform" && low <= 0) fail(`${path}: loguniform needs low > 0, got ${low}`);
    if (kind === "int" && !(Number.isSafeInteger(low) && Number.isSafeInteger(high))) fail(`${path}: int needs integer ends, got [${low}, ${high}]`);
    return { path, kind: kind as "uniform" | "loguniform" | "int", low, high };
  });
}

/**
 * A trial's `--set` overrides (values as JSON, which the YAML reader of --set reads back).
 * @example paramSets({ "optimizer.lr": 0.001 }) // ["optimizer.lr=0.001"]
 */
export function paramSets(params: Params): string[] {
  return Object.entries(params).map(([path, value]) => `${path}=${JSON.stringify(value)}`);
}

/**
 * Checks that every value the space can give fits the config (each choice, each range's ends):
 * an unknown field or a value the schema refuses is a ConfigError naming it.
 * @example checkSpaceFits(space, readConfigFile("cnn.json"), "space.yaml")
 */
export function checkSpaceFits(space: readonly Dimension[], base: unknown, source: string): void {
  for (const d of space) {
    for (const value of d.kind === "choice" ? d.values : [d.low, d.high]) {
      const set = paramSets({ [d.path]: value });
      try {
        parseConfig(applyOverrides(base, set), "with the space");
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        const why = error.message.replace(/^config with the space is invalid:\s*/, "").replace(/\s*\n\s*/g, "; ");
        throw new ConfigError(`space ${source}: ${set[0]} does not fit the config: ${why}`);
      }
    }
  }
}

/**
 * Draws one value per dimension.
 * @example sampleParams(space, seededRandom(0, trial))
 */
export function sampleParams(space: readonly Dimension[], random: Random): Params {
  const params: Params = {};
  for (const d of space) {
    const u = random();
    if (d.kind === "choice") params[d.path] = d.values[Math.min(Math.floor(u * d.values.length), d.values.length - 1)];
    else if (d.kind === "uniform") params[d.path] = d.low + u * (d.high - d.low);
    else if (d.kind === "loguniform") params[d.path] = Math.exp(Math.log(d.low) + u * (Math.log(d.high) - Math.log(d.low)));
    else params[d.path] = Math.min(d.low + Math.floor(u * (d.high - d.low + 1)), d.high);
  }
  return params;
}

/**
 * PBT's explore step: each range outside `model.*` multiplied by 0.8 or 1.2 (kept in its range,
 * integers rounded); choices and the model's fields are kept, since the copied weights and
 * optimizer state must fit the config.
 * @example perturbParams(space, donor.params, seededRandom(seed, trial, step))
 */
export function perturbParams(space: readonly Dimension[], params: Params, random: Random): Params {
  const next: Params = { ...params };
  for (const d of space) {
    if (d.kind === "choice" || d.path.startsWith("model.")) continue;
    const factor = random() < 0.5 ? 0.8 : 1.2;
    const moved = Math.min(Math.max((params[d.path] as number) * factor, d.low), d.high);
    next[d.path] = d.kind === "int" ? Math.round(moved) : moved;
  }
  return next;
}
