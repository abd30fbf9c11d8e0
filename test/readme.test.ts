import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { configReference } from "../src/train/config_file.js";
import { repoRoot } from "./helpers/paths.js";

const readme = readFileSync(join(repoRoot(), "README.md"), "utf8");

test("the README's library example runs as written and trains", () => {
  const block = readme.split("## The library in ten lines")[1]!.split("```ts\n")[1]!.split("```")[0]!;
  assert.ok(block.split("\n").filter((l) => l.trim()).length <= 10, "ten lines");
  const dir = mkdtempSync(join(tmpdir(), "turbine-readme-"));
  try {
    const file = join(dir, "example.mjs");
    writeFileSync(file, block.replace('from "turbine"', `from ${JSON.stringify(join(repoRoot(), "dist", "src", "index.js"))}`));
    const r = spawnSync(process.execPath, [file], { encoding: "utf8", timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    const accuracy = Number(/test accuracy ([\d.]+)%/.exec(r.stdout)?.[1]);
    assert.ok(accuracy > 80, `one epoch of the mlp reaches ${accuracy}%`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the README's configuration reference lists every field of the schema", () => {
  for (const field of configReference()) assert.ok(readme.includes(`\`${field.path}\``), `README lacks ${field.path}`);
});
