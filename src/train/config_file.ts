import { readFileSync } from "node:fs";
import { extname } from "node:path";

import { parse as parseYaml } from "yaml";
import type { z } from "zod";

import { configSchema, type Config } from "./config.js";

/** Reading, overriding, validating and documenting configs. */

export class ConfigError extends Error {}

/**
 * build(), with its RangeError (sizes the config asked for that a model, a layout or the data
 * refuse) rethrown as a ConfigError, so it ends in one line and exit 2.
 * @example const strategy = asConfigError(() => new PipelineParallel(model, group, options));
 */
export function asConfigError<T>(build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof RangeError) throw new ConfigError(`config: ${error.message}`);
    throw error;
  }
}

type Schema = z.ZodType & { def: any; description?: string };

/**
 * Reads a config file: JSON, or YAML for .yaml/.yml. Syntax errors name the file.
 * @example const raw = readConfigFile("examples/cnn.json");
 */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`config ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    return /\.ya?ml$/i.test(extname(path)) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config ${path}: not valid ${/\.ya?ml$/i.test(extname(path)) ? "YAML" : "JSON"}: ${(error as Error).message}`);
  }
}

/** Names that would reach an object's prototype rather than a field of the config. */
const SPECIAL_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Applies `--set a.b=value` overrides; values are read as YAML, so numbers, booleans, null and
 * [lists] keep their types.
 * @example applyOverrides(raw, ["train.epochs=5", "optimizer.lr=3e-4"])
 */
export function applyOverrides(raw: unknown, sets: readonly string[]): unknown {
  const root = structuredClone(raw ?? {}) as Record<string, unknown>;
  for (const set of sets) {
    const at = set.indexOf("=");
    if (at <= 0) throw new ConfigError(`--set ${JSON.stringify(set)}: expected path=value, e.g. train.epochs=5`);
    const path = set.slice(0, at).split(".");
    if (path.some((p) => p === "")) throw new ConfigError(`--set ${JSON.stringify(set)}: empty name in the path`);
    const special = path.find((p) => SPECIAL_KEYS.has(p));
    if (special) throw new ConfigError(`--set ${JSON.stringify(set)}: '${special}' is no config field (names that reach JavaScript prototypes are refused)`);
    let value: unknown;
    try {
      value = parseYaml(set.slice(at + 1));
    } catch {
      value = set.slice(at + 1);
    }
    let node = root;
    for (const key of path.slice(0, -1)) {
      const next = Object.hasOwn(node, key) ? node[key] : undefined;
      if (next === undefined || next === null) node[key] = {};
      else if (typeof next !== "object" || Array.isArray(next)) throw new ConfigError(`--set ${set}: '${key}' is not an object`);
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
  return root;
}

/**
 * Validates a raw config; every problem is listed with its field, the value found and what is
 * allowed.
 * @example const config = parseConfig(readConfigFile(path), path);
 */
export function parseConfig(raw: unknown, source: string): Config {
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  const lines = result.error.issues.flatMap((issue) => describeIssue(issue as Issue, raw).split("\n  "));
  // One problem fits on one line; several are listed one per line.
  throw new ConfigError(`config ${source} is invalid:${lines.length === 1 ? ` ${lines[0]}` : `\n  ${lines.join("\n  ")}`}`);
}

interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  input?: unknown;
  expected?: string;
  keys?: string[];
  values?: unknown[];
  options?: unknown[];
  discriminator?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  inclusive?: boolean;
  origin?: string;
}

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  // JSON would print null for these (a --set value of 1e400 parses to Infinity).
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A key as it appears in a field path: quoted when it is empty or holds spaces, dots or quotes. */
function fieldName(key: PropertyKey): string {
  const name = String(key);
  return /^[\w-]+$/.test(name) ? name : JSON.stringify(name);
}

function describeIssue(issue: Issue, raw: unknown): string {
  const path = issue.path.map(fieldName).join(".") || "(top level)";
  switch (issue.code) {
    case "unrecognized_keys": {
      const allowed = fieldsAt(issue.path.map(String), raw);
      return issue
        .keys!.map((k) => `${path === "(top level)" ? fieldName(k) : `${path}.${fieldName(k)}`}: unknown field; allowed here: ${allowed.join(", ")}`)
        .join("\n  ");
    }
    case "invalid_union":
      if (issue.discriminator) {
        const value = (issue.input as Record<string, unknown> | undefined)?.[issue.discriminator];
        return `${path}: got ${show(value)}; expected one of ${issue.options!.map(show).join(", ")}`;
      }
      return `${path}: ${issue.message}`;
    case "invalid_type":
      return `${path}: got ${show(issue.input)}; expected ${issue.expected}`;
    case "invalid_value":
      return `${path}: got ${show(issue.input)}; expected one of ${issue.values!.map(show).join(", ")}`;
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
      const relation = issue.code === "too_small" ? (issue.inclusive ? "≥" : ">") : issue.inclusive ? "≤" : "<";
      const what = issue.origin === "array" ? `a list with ${relation} ${bound} items` : `a ${issue.origin ?? "value"} ${relation} ${bound}`;
      return `${path}: got ${show(issue.input)}; expected ${what}`;
    }
    default:
      return `${path}: ${issue.message} (got ${show(issue.input)})`;
  }
}

function unwrap(schema: Schema): Schema {
  let s = schema;
  while (["optional", "default", "nullable", "prefault"].includes(s.def.type)) s = s.def.innerType;
  return s;
}

/** The schema at a path of a raw config (a discriminated union resolved by the raw value). */
function schemaAt(path: string[], raw: unknown): Schema | null {
  let schema = unwrap(configSchema as unknown as Schema);
  let value = raw as Record<string, unknown> | undefined;
  for (const key of ["", ...path]) {
    if (key !== "") {
      if (schema.def.type !== "object") return null;
      schema = unwrap(schema.def.shape[key]);
      value = value?.[key] as Record<string, unknown> | undefined;
    }
    if (schema?.def.type === "union" && schema.def.discriminator) {
      const tag = value?.[schema.def.discriminator];
      const option = (schema.def.options as Schema[]).find((o) => unwrap(o).def.shape[schema.def.discriminator].def.values.includes(tag));
      if (!option) return null;
      schema = unwrap(option);
    }
    if (!schema) return null;
  }
  return schema;
}

function fieldsAt(path: string[], raw: unknown): string[] {
  const schema = schemaAt(path, raw);
  return schema?.def.type === "object" ? Object.keys(schema.def.shape) : [];
}

export interface ConfigField {
  path: string;
  type: string;
  default: string;
  description: string;
}

/** Every config field with its type, default and description, from the schema itself. */
export function configReference(): ConfigField[] {
  const rows: ConfigField[] = [];
  const visit = (schema: Schema, path: string, described?: string): void => {
    let s = schema;
    let fallback: unknown;
    let description = schema.description ?? described;
    while (["optional", "default", "nullable", "prefault"].includes(s.def.type)) {
      if (s.def.type === "default") fallback = typeof s.def.defaultValue === "function" ? s.def.defaultValue() : s.def.defaultValue;
      s = s.def.innerType;
      description ??= s.description;
    }
    if (s.def.type === "object") {
      for (const [key, child] of Object.entries(s.def.shape as Record<string, Schema>)) visit(child, path ? `${path}.${key}` : key);
      return;
    }
    if (s.def.type === "union" && s.def.discriminator) {
      for (const option of s.def.options as Schema[]) {
        const o = unwrap(option);
        const tag = o.def.shape[s.def.discriminator].def.values[0];
        for (const [key, child] of Object.entries(o.def.shape as Record<string, Schema>)) {
          const first = rows.length;
          visit(child, `${path}.${key}`, undefined);
          if (key === s.def.discriminator) rows[rows.length - 1]!.path = `${path}.${key} = ${show(tag)}`;
          else for (const row of rows.slice(first)) row.path = `${row.path} (${s.def.discriminator} ${tag})`;
        }
      }
      return;
    }
    rows.push({ path, type: typeName(s), default: fallback === undefined ? "" : JSON.stringify(fallback), description: description ?? "" });
  };
  visit(configSchema as unknown as Schema, "");
  return rows;
}

function typeName(s: Schema): string {
  switch (s.def.type) {
    case "enum":
      return Object.values(s.def.entries as Record<string, string>)
        .map((v) => JSON.stringify(v))
        .join(" | ");
    case "literal":
      return (s.def.values as unknown[]).map((v) => JSON.stringify(v)).join(" | ");
    case "array":
      return `${typeName(s.def.element)}[]`;
    case "tuple":
      return `[${(s.def.items as Schema[]).map(typeName).join(", ")}]`;
    case "number":
      return (s as unknown as { isInt?: boolean }).isInt ? "integer" : "number";
    default:
      return s.def.type;
  }
}
