import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";

import { FASTEST_RECIPE } from "../../bench/compare.js";
import { readRecipe, withRecipe, workloadConfig } from "../../bench/workloads.js";
import { parseConfig } from "../../src/train/config_file.js";
import { repoRoot } from "../helpers/paths.js";

test("withRecipe replaces a section's fields one by one and keeps the rest of the section", () => {
  const base = workloadConfig("gpt", repoRoot(), 1500, "bf16");
  const merged = withRecipe(base, { optimizer: { lr: 3e-3 }, train: { steps: 300 } }) as unknown as Record<string, Record<string, unknown>>;
  assert.equal(merged.optimizer!.lr, 3e-3);
  assert.equal(merged.optimizer!.kind, "adamw", "the fields the recipe does not name stay");
  assert.equal(merged.train!.steps, 300);
  assert.equal(merged.train!.precision, "bfloat16");
  assert.deepEqual(merged.model, (base as Record<string, unknown>).model);
});

test("turbine's fastest time-to-quality recipe is a valid gpt config (a typo fails here, not in a quiet bench window)", () => {
  const recipe = readRecipe(join(repoRoot(), FASTEST_RECIPE));
  const config = parseConfig(withRecipe(workloadConfig("gpt", repoRoot(), 300, "bf16"), recipe), "fastest recipe");
  assert.equal(config.optimizer.kind, recipe.optimizer?.kind ?? "adamw");
  assert.equal(config.model.kind, "gpt");
});
