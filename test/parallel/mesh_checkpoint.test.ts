import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { assertClose } from "../helpers/compare.js";
import type { Layout, MeshCheckpointArgs, MeshCheckpointResult } from "./mesh_checkpoint_rank.js";

async function runRanks(args: MeshCheckpointArgs): Promise<MeshCheckpointResult[]> {
  const job = startThreads({ size: 4, module: new URL("./mesh_checkpoint_rank.js", import.meta.url), args, timeoutMs: 30_000, onLine: () => {} });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as MeshCheckpointResult;
  });
}

// Catches a checkpoint of split parts (t = 2 written as one rank's columns), a pipeline stage
// writing only what it trains without the others' (missing tensors on load), optimizer state
// cut along the wrong axis or left behind (the continued losses drift past 1e-4), and a loader
// that fills a meta stage's tensors.
for (const [write, read] of [
  ["tensor", ["single", "pipeline", "tensorPipeline"]],
  ["pipeline", ["single", "tensor"]],
  ["tensorPipeline", ["single", "tensor", "pipeline"]],
] as [Layout, Layout[]][]) {
  test(`a checkpoint written under ${write} (4 threads) reloads into ${read.join(", ")}, continuing within 1e-4 of the uninterrupted run`, {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "turbine-mesh-ckpt-"));
    try {
      for (const [rank, result] of (await runRanks({ dir, write, read })).entries()) {
        assert.deepEqual(Object.keys(result).sort(), [...read].sort());
        for (const [layout, [losses, expected]] of Object.entries(result)) assertClose(losses, expected, { rtol: 1e-4 }, `rank ${rank}: ${write} → ${layout}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
