import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import fc from "fast-check";

import { DEFAULT_CONFIG } from "../../src/train/config.js";
import { applyOverrides, ConfigError, configReference, parseConfig } from "../../src/train/config_file.js";
import { checkMemoryFloor, memoryFloor } from "../../src/train/memory_floor.js";
import { repoRoot } from "../helpers/paths.js";

// Property-based fuzz tests of the config path, run in-process on the parse functions: whatever a
// config file holds and whatever `--set` overrides are given, the result is a valid config or a
// ConfigError whose message names the field, never another exception, and nothing reaches
// Object.prototype.

const bases: unknown[] = [
  DEFAULT_CONFIG,
  ...readdirSync(join(repoRoot(), "examples"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(repoRoot(), "examples", f), "utf8")) as unknown),
];

/** Every field path of the schema ("model.hidden", "train.lossScale.initScale"...). */
const fieldPaths = [...new Set(configReference().map((f) => f.path.replace(/ = .*$/, "").replace(/ \(.*\)$/, "")))];
const sections = [...new Set(fieldPaths.map((p) => p.split(".")[0]!))];

const specialKey = fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf");
const segment = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...fieldPaths.flatMap((p) => p.split("."))) }, specialKey, fc.string({ maxLength: 5 }));
/** A --set path: a field of the schema, one with a changed segment, or made-up segments. */
const setPath = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...fieldPaths) },
  fc.tuple(fc.constantFrom(...fieldPaths), fc.nat(), segment).map(([p, i, s]) => {
    const parts = p.split(".");
    parts[i % parts.length] = s;
    return parts.join(".");
  }),
  fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(".")),
);
/** A --set value: YAML text of every type, edge numbers, broken flow collections. */
const setValue = fc.oneof(
  fc.constantFrom(
    "0",
    "-1",
    "1",
    "2",
    "1e-3",
    "1e400",
    "-0",
    ".nan",
    ".inf",
    "null",
    "~",
    "true",
    "no",
    "",
    "[]",
    "{}",
    "[0.9, 0.999]",
    "[1, [2]]",
    "{a: 1}",
    "[",
    "{a",
    "*x",
    "!!str 5",
    "gpt",
    "cnn",
    "mlp",
    "text",
    "tokens",
    "fashion-mnist",
    "cosine",
    "bfloat16",
    "float16",
  ),
  fc.integer({ min: -5, max: 5000 }).map(String),
  fc.double({ noNaN: false }).map(String),
  fc.string({ maxLength: 8 }),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
);
const setOption = fc.tuple(setPath, setValue).map(([p, v]) => `${p}=${v}`);

const prototypeNames = (): string[] => Object.getOwnPropertyNames(Object.prototype).sort();
const cleanPrototype = prototypeNames();

/** The config paths a ConfigError names, one per problem line; --set errors name the option. */
function namedPaths(message: string): string[] {
  const body = message.replace(/^config .*? is invalid:\s*/s, "");
  return body.split("\n").map((line) => /^\s*(\(top level\)|(?:"(?:[^"\\]|\\.)*"|[^\s:"])+):/.exec(line)?.[1] ?? "");
}

/** Runs the parse and returns the ConfigError it raised, if any; any other exception fails the property. */
function parseOrConfigError(run: () => unknown): ConfigError | null {
  try {
    run();
    return null;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw new Error(`not a ConfigError: ${(error as Error)?.stack ?? String(error)}`);
    assert.ok(!/\n\s+at /.test(error.message), `a stack trace in the message: ${error.message}`);
    return error;
  } finally {
    assert.deepEqual(prototypeNames(), cleanPrototype, "Object.prototype was changed");
    assert.equal(({} as Record<string, unknown>).x, undefined, "Object.prototype was changed");
  }
}

test("one --set override on a valid config: a valid config, or an error naming that field or the option", () => {
  fc.assert(
    fc.property(fc.constantFrom(...bases), setOption, (base, set) => {
      const error = parseOrConfigError(() => parseConfig(applyOverrides(base, [set]), "fuzz"));
      if (!error) return;
      if (error.message.startsWith("--set ")) {
        assert.ok(error.message.includes(set.split("=")[0]!.split(".")[0]!), `the option is named: ${error.message}`);
        return;
      }
      const first = set.split("=")[0]!.split(".")[0]!;
      const section = /^[\w-]+$/.test(first) ? first : JSON.stringify(first);
      const named = namedPaths(error.message);
      assert.ok(
        named.every((p) => p !== "") && named.some((p) => p === section || p.startsWith(`${section}.`) || p === "(top level)"),
        `--set ${set}: the error names no field under ${section}: ${error.message}`,
      );
    }),
    { seed: 15, numRuns: 1500 },
  );
});

test("several --set overrides: a valid config or a ConfigError, never another exception", () => {
  fc.assert(
    fc.property(fc.constantFrom(...bases), fc.array(setOption, { maxLength: 6 }), (base, sets) => {
      parseOrConfigError(() => parseConfig(applyOverrides(base, sets), "fuzz"));
    }),
    { seed: 15, numRuns: 800 },
  );
});

/** A config file's content: a valid config with fields replaced, added or removed, or any JSON. */
const rawConfig = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.tuple(fc.constantFrom(...bases), fc.array(fc.tuple(setPath, fc.jsonValue({ maxDepth: 2 }), fc.boolean()), { maxLength: 4 })).map(([base, edits]) => {
    const raw = structuredClone(base) as Record<string, unknown>;
    for (const [path, value, remove] of edits) {
      const parts = path.split(".");
      let node: Record<string, unknown> = raw;
      for (const key of parts.slice(0, -1)) {
        const next = Object.hasOwn(node, key) ? node[key] : undefined;
        if (next === null || typeof next !== "object" || Array.isArray(next)) break;
        node = next as Record<string, unknown>;
      }
      // Defined as own properties, as JSON.parse and YAML give them (even "__proto__").
      if (remove) delete node[parts.at(-1)!];
      else Object.defineProperty(node, parts.at(-1)!, { value, enumerable: true, writable: true, configurable: true });
    }
    return raw;
  }),
  fc.dictionary(fc.oneof(fc.constantFrom(...sections), specialKey), fc.jsonValue({ maxDepth: 2 })),
);

test("any config file content: a valid config, or an error listing each problem by field", () => {
  fc.assert(
    fc.property(rawConfig, (raw) => {
      const error = parseOrConfigError(() => parseConfig(raw, "fuzz"));
      if (error)
        assert.ok(
          namedPaths(error.message).every((p) => p !== ""),
          `a problem line names no field: ${error.message}`,
        );
    }),
    { seed: 15, numRuns: 1500 },
  );
});

/** A size field set anywhere from 1 to far beyond any machine (lists for the mlp's and cnn's widths). */
const sizeOption = fc
  .tuple(
    fc.constantFrom("model.layers", "model.width", "model.context", "model.hidden", "model.channels", "model.moe.experts", "data.batchSize", "parallel.zero"),
    fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 2 ** 50 })),
  )
  .map(([path, n]) => (path === "model.channels" || (path === "model.hidden" && n % 2 === 0) ? `${path}=[${n}]` : `${path}=${n}`));

test("sizes of any magnitude: a valid config fits the floor or is refused by a ConfigError naming the model's sizes or data.batchSize", () => {
  const memory = 64 * 2 ** 30;
  fc.assert(
    fc.property(fc.constantFrom(...bases), fc.array(sizeOption, { minLength: 1, maxLength: 4 }), (base, sets) => {
      const valid = (() => {
        try {
          return parseConfig(applyOverrides(base, sets), "fuzz");
        } catch {
          return null; // the other properties cover invalid configs
        }
      })();
      if (valid === null) return;
      const error = parseOrConfigError(() => checkMemoryFloor(valid, { memory }));
      if (error === null) return;
      if (/model\.channels has \d+ stages/.test(error.message)) return;
      assert.ok(Number.isFinite(memoryFloor(valid).total) && memoryFloor(valid).total > memory, `refused only above the memory: ${error.message}`);
      assert.match(error.message, /^config: (the model \(model\.|a batch of data\.batchSize )[^\n]*; lower (the model's sizes|data\.batchSize)$/);
    }),
    { seed: 15, numRuns: 400 },
  );
});
