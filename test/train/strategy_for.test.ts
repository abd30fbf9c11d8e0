import assert from "node:assert/strict";
import { test } from "node:test";

import { parseConfig } from "../../src/train/config_file.js";
import { ConfigError } from "../../src/train/config_file.js";
import { meshFor } from "../../src/train/strategy_for.js";

const config = (parallel: Record<string, unknown>) => parseConfig({ model: { kind: "mlp" }, data: { kind: "fashion-mnist" }, parallel }, "test.json");

test("meshFor: one process runs the default layout; a pipeline or tensor layout without ranks is a config error naming the numbers", () => {
  assert.equal(meshFor(config({}), undefined), null);
  assert.throws(
    () => meshFor(config({ pipeline: 2 }), undefined),
    (e: unknown) =>
      e instanceof ConfigError && /tensor 1 × pipeline 2 = 2 does not divide the 1 ranks of the job \(one process: turbine launch -n N/.test(e.message),
  );
  assert.throws(() => config({ pipeline: 0 }), /parallel\.pipeline/);
  assert.throws(() => config({ schedule: "zigzag" }), /parallel\.schedule/);
});
