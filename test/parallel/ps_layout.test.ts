import assert from "node:assert/strict";
import { test } from "node:test";

import { psLayout } from "../../src/parallel/ps/index.js";
import { parseConfig } from "../../src/train/config_file.js";
import { checkLayout } from "../../src/train/strategy_for.js";

test("psLayout: the last ranks serve; whole parameters go, largest first, to the least-loaded server", () => {
  assert.deepEqual(psLayout(4, 1, [100, 10]), { workers: [0, 1, 2], servers: [3], owner: [0, 0] });
  // 40 → server 0, 30 → 1, 20 → 1 (30 < 40), 10 → 0 (40 < 50).
  assert.deepEqual(psLayout(5, 2, [10, 40, 30, 20]), { workers: [0, 1, 2], servers: [3, 4], owner: [0, 0, 1, 1] });
  assert.throws(() => psLayout(2, 2, []), /parallel\.servers 2: a parameter server job of 2 ranks needs 1 to 1 servers/);
});

test("checkLayout under parallel.mode ps: the workers' mesh, and config errors naming what does not combine", () => {
  const config = (parallel: Record<string, unknown>) =>
    parseConfig({ model: { kind: "mlp" }, data: { kind: "fashion-mnist", batchSize: 8 }, parallel: { mode: "ps", ...parallel } }, "test");
  assert.equal(checkLayout(config({ servers: 1 }), 3).data, 2, "2 workers train data parallel");
  assert.throws(() => checkLayout(config({ servers: 3 }), 3), /parallel\.servers 3: a parameter server job of 3 ranks needs 1 to 2 servers/);
  assert.throws(() => checkLayout(config({ zero: 1 }), 3), /parallel\.mode "ps" trains data parallel only; remove parallel\.zero 1/);
  assert.throws(() => checkLayout(config({ compression: { kind: "bf16" } }), 3), /remove parallel\.compression bf16/);
  assert.throws(() => parseConfig({ model: { kind: "mlp" }, data: { kind: "fashion-mnist" }, parallel: { staleness: "many" } }, "test"), /parallel\.staleness/);
});
