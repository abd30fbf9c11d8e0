import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";

import { packageRoot } from "../../src/package_root.js";
import { loadCluster } from "../../src/plan/cluster.js";
import { type Layout, layoutOf } from "../../src/plan/layouts.js";
import { plan } from "../../src/plan/planner.js";
import { parseConfig } from "../../src/train/config_file.js";

test("plan prices activation checkpointing as a lever: the same layout with it holds fewer activations and takes longer (recomputed forwards)", () => {
  // Catches the model described once, as configured, for every layout: checkpointing would then
  // cost nothing and save nothing ("as fast at best", the same peak).
  const config = parseConfig({ model: { kind: "gpt", layers: 4, heads: 4, width: 256, context: 128 }, data: { kind: "text", batchSize: 16 } }, "test");
  const machine = loadCluster(join(packageRoot(), "examples", "clusters", "a100-4x8.yaml"));
  const result = plan(config, { ranks: 2, memoryPerRank: 80e9, machine, globalBatch: 32, vocab: 65 });
  const key = (l: Layout): string => JSON.stringify({ ...l, checkpoint: null });
  const plain = new Map(result.fitting.filter((p) => !p.layout.checkpoint).map((p) => [key(p.layout), p]));
  let compared = 0;
  for (const p of result.fitting.filter((q) => q.layout.checkpoint)) {
    const twin = plain.get(key(p.layout));
    if (!twin) continue;
    compared++;
    assert.ok(p.memory.activations < twin.memory.activations, `activations with checkpointing: ${p.memory.activations} vs ${twin.memory.activations}`);
    assert.ok(p.time.compute > twin.time.compute, `compute with checkpointing: ${p.time.compute} vs ${twin.time.compute}`);
  }
  assert.ok(compared > 10, `${compared} layouts compared`);
  // The configured layout (no checkpointing) is priced as configured.
  const current = layoutOf(config, 2);
  const asConfigured = plan(config, { ranks: 2, memoryPerRank: 80e9, machine, globalBatch: 32, vocab: 65, current });
  assert.ok(asConfigured.explanation.some((line) => line.startsWith("as configured")));
});
