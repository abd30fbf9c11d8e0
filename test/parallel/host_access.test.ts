import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";

import { repoRoot } from "../helpers/paths.js";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

// A read of a tensor's storage array: `x.data` (not `workerData`, not `.dataset`).
const DATA = /\.data\b/;

test("collectives, process groups and strategies reach elements only through toHost(), never Tensor.data", () => {
  const root = repoRoot();
  const offenders = sources(join(root, "src", "parallel"))
    .map((path) => relative(root, path))
    .filter((path) =>
      readFileSync(join(root, path), "utf8")
        .split("\n")
        .some((line) => DATA.test(line) && !line.trim().startsWith("*")),
    );
  assert.deepEqual(offenders, []);
  assert.ok(DATA.test("native.copyBytes(slice, leaf.grad.data)") && !DATA.test("leaf.grad.toHost()") && !DATA.test("workerData"));
});
