import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { parseConfig, readConfigFile } from "../../src/train/config_file.js";
import { repoRoot } from "../helpers/paths.js";

// The main job and the mlp example, run as a user runs them, to the accuracies the training-stack
// issue asks for. About 35 s together on two cores.
const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-accuracy-"));
after(() => rmSync(work, { recursive: true, force: true }));

function train(args: string[]): { eval: { accuracy: number }; steps: number } {
  const r = spawnSync(process.execPath, [cli, "train", ...args, "--no-progress", "--json", "--set", `outDir=${work}`], { encoding: "utf8", timeout: 600_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

test("the default `turbine train` (the cnn on Fashion-MNIST) reaches ≥ 90% test accuracy", () => {
  const summary = train([]);
  assert.ok(summary.eval.accuracy >= 0.9, `test accuracy ${(100 * summary.eval.accuracy).toFixed(2)}%`);
});

test("the mlp example reaches ≥ 88% test accuracy", () => {
  const summary = train([join(repoRoot(), "examples", "mlp.json")]);
  assert.ok(summary.eval.accuracy >= 0.88, `test accuracy ${(100 * summary.eval.accuracy).toFixed(2)}%`);
});

test("every example config is valid", () => {
  const dir = join(repoRoot(), "examples");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) parseConfig(readConfigFile(join(dir, file)), file);
});
