import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";

import { repoRoot } from "../helpers/paths.js";

/** Every .ts file under dir, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

// What loading the addon looks like: its file name, or the module that loads it.
const ADDON = /turbine\.node|backends\/native\/addon(\.js)?["']/;

test("no file outside src/backends/ loads the native addon", () => {
  const root = repoRoot();
  const offenders = sources(join(root, "src"))
    .map((path) => relative(root, path))
    .filter((path) => !path.startsWith(join("src", "backends")))
    .filter((path) => ADDON.test(readFileSync(join(root, path), "utf8")));
  assert.deepEqual(offenders, []);
});

test("the boundary check sees an import of the addon", () => {
  assert.ok(ADDON.test(`import { loadNative } from "../backends/native/addon.js";`));
  assert.ok(ADDON.test(`createRequire(import.meta.url)("../build/Release/turbine.node")`));
  assert.ok(!ADDON.test(`import { kernels } from "../backends/index.js";`));
});
