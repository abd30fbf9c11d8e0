import assert from "node:assert/strict";
import { test } from "node:test";

import { FrozenVarianceAdam } from "../../src/parallel/compression/frozen_variance_adam.js";
import { OneBitAdam } from "../../src/parallel/compression/onebit_adam.js";
import { mlp } from "../../src/models/mlp.js";
import { buildOptimizer } from "../../src/train/build.js";
import { ConfigError, parseConfig } from "../../src/train/config_file.js";
import { checkLayout } from "../../src/train/strategy_for.js";

const config = (optimizer: Record<string, unknown>, parallel: Record<string, unknown> = {}) =>
  parseConfig({ model: { kind: "mlp" }, data: { kind: "fashion-mnist" }, optimizer, parallel }, "test.json");

test("optimizer onebitadam: built with its freezeStep, refused outside plain data parallel and with a compression hook, freezeStep only its own", () => {
  const optimizer = buildOptimizer(config({ kind: "onebitadam", freezeStep: 7 }), mlp({ inputs: 4, hidden: [3], classes: 2 }));
  assert.ok(optimizer instanceof OneBitAdam);
  assert.equal(optimizer.freezeStep, 7);
  assert.deepEqual(checkLayout(config({ kind: "onebitadam" }), 2), { data: 2, tensor: 1, pipeline: 1, expert: 1 });
  assert.throws(
    () => checkLayout(config({ kind: "onebitadam" }, { zero: 1 }), 2),
    (e: Error) => e instanceof ConfigError && /optimizer.kind onebitadam compresses plain data parallel only .*zero 1/.test(e.message),
  );
  assert.throws(
    () => checkLayout(config({ kind: "onebitadam" }, { compression: { kind: "topk" } }), 2),
    (e: Error) => e instanceof ConfigError && /onebitadam compresses the momentum itself; parallel.compression must be "none", got "topk"/.test(e.message),
  );
  assert.throws(() => config({ kind: "adamw", freezeStep: 5 }), /freezeStep is onebitadam's only; optimizer.kind is adamw/);
  assert.throws(() => config({ kind: "onebitadam", freezeStep: 0 }), /freezeStep/);
});

test("parallel.compression target momentum: AdamW built as a frozen-variance Adam freezing at warmupSteps; refused without a compressor, a warm-up or AdamW", () => {
  const momentum = (kind: string, extra: Record<string, unknown> = {}) => ({ compression: { kind, target: "momentum", warmupSteps: 5, ...extra } });
  const optimizer = buildOptimizer(config({ kind: "adamw" }, momentum("topk")), mlp({ inputs: 4, hidden: [3], classes: 2 }));
  assert.ok(optimizer instanceof FrozenVarianceAdam && !(optimizer instanceof OneBitAdam));
  assert.equal(optimizer.freezeStep, 5);
  assert.ok(
    !(buildOptimizer(config({ kind: "adamw" }, { compression: { kind: "topk" } }), mlp({ inputs: 4, hidden: [3], classes: 2 })) instanceof FrozenVarianceAdam),
  );
  assert.deepEqual(checkLayout(config({ kind: "adamw" }, momentum("powersgd")), 2), { data: 2, tensor: 1, pipeline: 1, expert: 1 });
  assert.throws(() => config({ kind: "adamw" }, momentum("none")), /target "momentum" needs a compressor/);
  assert.throws(() => config({ kind: "adamw" }, momentum("onebit", { warmupSteps: 0 })), /target "momentum" needs warmupSteps ≥ 1/);
  assert.throws(
    () => checkLayout(config({ kind: "sgd" }, momentum("topk")), 2),
    (e: Error) => e instanceof ConfigError && /target "momentum" compresses AdamW's momentum .*optimizer.kind is sgd/.test(e.message),
  );
  assert.throws(
    () => checkLayout(config({ kind: "adamw" }, { ...momentum("topk"), zero: 1 }), 2),
    (e: Error) => e instanceof ConfigError && /compresses plain data parallel only .*zero 1/.test(e.message),
  );
});
