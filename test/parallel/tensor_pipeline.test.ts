import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { assertClose, assertRelative, F32, type Tolerance } from "../helpers/compare.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";
import { runUnderMpi } from "./mpi_module.js";
import type { TPPArgs, TPPResult } from "./tensor_pipeline_rank.js";

async function runRanks(size: number, args: TPPArgs): Promise<TPPResult[]> {
  const job = startThreads({ size, module: new URL("./tensor_pipeline_rank.js", import.meta.url), args, onLine: () => {} });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as TPPResult;
  });
}

/** Weights and optimizer state: AdamW magnifies rounding noise in near-zero gradients (see tensor_parallel.test.ts). */
const WEIGHTS: Tolerance = { rtol: 1e-5, floor: 1e-3 };

/**
 * Every rank's losses and norms (1e-5 each), gradients (1e-5 of each tensor's norm) and weights
 * equal the unsplit model's; the ranks' checkpoint pieces are the unsplit model's full tensors
 * and together name every one.
 * Catches a last stage taking plain cross-entropy of its vocabulary columns (losses), a norm
 * that counts replicated parameters on every tensor rank or misses a stage (norms), a cut that
 * differs between tensor ranks (hangs or gradients), checkpoints of split parts, and a rank
 * that materialises other stages' layers (parameter bytes).
 */
function assertSameAsUnsplit(results: TPPResult[], what: string): void {
  const [first] = results;
  assert.ok(first!.losses[1].at(-1)! < first!.losses[1][0]!, `${what}: the model learns`);
  const written = new Set<string>();
  for (const [rank, r] of results.entries()) {
    assertClose(r.losses[0], r.losses[1], F32, `${what}, rank ${rank}: losses`);
    assertClose(r.norms[0], r.norms[1], F32, `${what}, rank ${rank}: gradient norms`);
    assert.ok(Object.keys(r.checks).length >= 4, `${what}, rank ${rank}: trains parameters`);
    assert.equal(r.stageBytes[0], r.stageBytes[1], `${what}, rank ${rank}: the tracker's parameter bytes are its stage's parts only`);
    for (const [name, [actual, expected]] of Object.entries(r.checks)) {
      if (name.endsWith(".grad")) assertRelative(actual, expected, 1e-5, `${what}, rank ${rank}: ${name}`);
      else assertClose(actual, expected, WEIGHTS, `${what}, rank ${rank}: ${name}`);
    }
    for (const [name, [actual, expected]] of Object.entries(r.checkpoint)) {
      assertClose(actual, expected, WEIGHTS, `${what}, rank ${rank}: checkpoint ${name}`);
      if (!name.startsWith("optimizer.")) {
        assert.ok(!written.has(name), `${what}: ${name} written twice`);
        written.add(name);
      }
    }
  }
  assert.deepEqual([...written].sort(), [...first!.names].sort(), `${what}: the checkpoint holds every tensor of the model once`);
}

const STEPS = 20;

test("3D (threads) data 2 × tensor 2 × pipeline 2 on 8 ranks, tied head: 20 AdamW steps give the single-process losses, norms, gradients, weights and checkpoint", {
  timeout: 240_000,
}, async () => {
  assertSameAsUnsplit(await runRanks(8, { data: 2, tensor: 2, pipeline: 2, steps: STEPS, tiedHead: true }), "d2 t2 p2");
});

test("tensor 2 × pipeline 2 (threads) on 4 ranks, untied head: 20 AdamW steps give the single-process losses, norms, gradients, weights and checkpoint", {
  timeout: 240_000,
}, async () => {
  assertSameAsUnsplit(await runRanks(4, { data: 1, tensor: 2, pipeline: 2, steps: STEPS, tiedHead: false }), "t2 p2");
});

test("3D (mpi) data 2 × tensor 2 × pipeline 2 on 8 ranks: 20 AdamW steps give the single-process losses, norms, gradients, weights and checkpoint", {
  skip: skipIfMissing(missingMpi()),
  timeout: 240_000,
}, () => {
  assertSameAsUnsplit(
    runUnderMpi<TPPResult>(8, "tensor_pipeline_rank.js", { data: 2, tensor: 2, pipeline: 2, steps: STEPS, tiedHead: true }, 60_000),
    "mpi d2 t2 p2",
  );
});
