import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { type ModelStateBytes, modelStateBytes } from "../../src/train/model_state_bytes.js";
import type { ModelStateArgs, ModelStateResult } from "./model_state_rank.js";

const work = mkdtempSync(join(tmpdir(), "turbine-model-state-"));
after(() => rmSync(work, { recursive: true, force: true }));

async function train(size: number, args: ModelStateArgs): Promise<ModelStateResult[]> {
  const job = startThreads({ size, module: new URL("./model_state_rank.js", import.meta.url), args, onLine: () => {}, threadsPerWorker: 1 });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as ModelStateResult;
  });
}

function assertWithin5Percent(measured: ModelStateBytes, formula: ModelStateBytes, what: string): void {
  for (const key of ["parameters", "gradients", "optimizer", "offloaded", "resident"] as const) {
    const [m, f] = [measured[key], formula[key]];
    assert.ok(Math.abs(m - f) <= 0.05 * Math.max(f, 1), `${what}, ${key}: the tracker measured ${m} bytes, modelStateBytes says ${f}`);
  }
}

// 0.05 MiB buckets: every parameter of the 384-wide MLP above the cap is a unit of its own, so B = L.
const BUCKET_MB = 0.05;

test("each rank's tracked model-state bytes equal modelStateBytes within 5% at stages 0, 1, 2 and 3 on 2 and 4 ranks", { timeout: 120_000 }, async () => {
  // Catches a formula that does not shard what a stage shards (stage 1's optimizer state at 8Ψ,
  // stage 2's gradients at 4Ψ, stage 3's parameters whole), or that misses ZeRO's master slices
  // and all-gather buffers.
  for (const size of [2, 4]) {
    for (const stage of [0, 1, 2, 3] as const) {
      const ranks = await train(size, { zero: stage, offloadDir: null, bucketCapMB: BUCKET_MB });
      for (const [rank, r] of ranks.entries()) {
        const L = r.largestParameter;
        // At stage 3 a rank holds at most two layers gathered (one in use, one prefetched): the
        // MLP's two largest, 64·384 + 384 and 384·384 + 384 elements.
        const formula = modelStateBytes({
          parameters: r.parameters,
          largestParameter: L,
          bucketElements: L,
          gatheredElements: 64 * 384 + 384 + 384 * 384 + 384,
          ranks: size,
          stage,
        });
        assertWithin5Percent(r.measured, formula, `stage ${stage}, rank ${rank} of ${size}`);
      }
    }
  }
});

test("disk offload under DDP and ZeRO-1 on 2 ranks: the same parameters bitwise, no optimizer state in memory, 8 bytes per owned element on disk, files removed", {
  timeout: 120_000,
}, async () => {
  // Catches an offload that sizes its file for the whole model instead of ZeRO's shard (offloaded
  // would be 8Ψ), that keeps the moments resident, or that updates differently.
  for (const stage of [0, 1] as const) {
    const [resident] = await train(2, { zero: stage, offloadDir: null, bucketCapMB: BUCKET_MB });
    const dir = join(work, `stage${stage}`);
    const ranks = await train(2, { zero: stage, offloadDir: dir, bucketCapMB: BUCKET_MB });
    assert.deepEqual(ranks[0]!.params, resident!.params, `stage ${stage}: the offloaded run's parameters`);
    for (const [rank, r] of ranks.entries()) {
      const L = r.largestParameter;
      const formula = modelStateBytes({ parameters: r.parameters, largestParameter: L, bucketElements: L, ranks: 2, stage, offload: "disk" });
      assertWithin5Percent(r.measured, formula, `stage ${stage} offloaded, rank ${rank}`);
      assert.equal(r.measured.optimizer, 0);
    }
    assert.deepEqual(readdirSync(dir), [], "each rank's file is removed");
  }
});
