import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import ts from "typescript";

import { repoRoot } from "../helpers/paths.js";

const readme = readFileSync(join(repoRoot(), "README.md"), "utf8");

test("the README's data-parallel example runs from the package entry: both ranks end with the same weights, near the target", () => {
  const section = readme.split("## Data-parallel training on one machine")[1]!.split("\n## ")[0]!;
  const block = section.split("```ts\n")[1]!.split("```")[0]!;
  assert.match(block, /from "turbine";/);
  const js = ts.transpileModule(block, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } }).outputText;
  const dir = mkdtempSync(join(tmpdir(), "turbine-readme-ddp-"));
  try {
    const file = join(dir, "ddp_example.mjs");
    writeFileSync(file, js.replace('from "turbine"', `from ${JSON.stringify(join(repoRoot(), "dist", "src", "index.js"))}`));
    const r = spawnSync(process.execPath, [file], { encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const results = new Map(
      r.stdout
        .trim()
        .split("\n")
        .map((line) => {
          const [rank, json] = [line.slice(0, line.indexOf(" ")), line.slice(line.indexOf(" ") + 1)];
          return [Number(rank), JSON.parse(json) as { loss: number; weight: number[] }];
        }),
    );
    assert.deepEqual([...results.keys()].sort(), [0, 1], r.stdout);
    assert.deepEqual(results.get(0)!.weight, results.get(1)!.weight, "DDP keeps the replicas identical");
    // The target is the sum of the inputs: every weight tends to 1.
    for (const w of results.get(0)!.weight) assert.ok(Math.abs(w - 1) < 0.2, `weight ${w} near 1`);
    for (const { loss } of results.values()) assert.ok(loss < 0.3, `final loss ${loss}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
