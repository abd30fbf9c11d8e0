import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { assertClose, F32, type Tolerance } from "../helpers/compare.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";
import { runUnderMpi } from "./mpi_module.js";
import type { TPArgs, TPResult } from "./tensor_parallel_rank.js";

async function runRanks(size: number, args: TPArgs): Promise<TPResult[]> {
  const job = startThreads({ size, module: new URL("./tensor_parallel_rank.js", import.meta.url), args, onLine: () => {} });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as TPResult;
  });
}

/**
 * Weights and optimizer state after 20 steps: AdamW turns a gradient that is pure rounding noise
 * (the key bias's: softmax ignores it) into steps of about lr either way, in the unsplit model as
 * in the split one, so those are compared against 1e-3 of each tensor's scale.
 */
const WEIGHTS: Tolerance = { rtol: 1e-5, floor: 1e-3 };

/** Losses, norms and every gradient (1e-5), weights and rank 0's gathered checkpoint equal the unsplit model's. */
export function assertSameAsUnsplit(results: TPResult[], what: string): void {
  const [first] = results;
  assert.ok(first!.losses[1][19]! < first!.losses[1][0]!, `${what}: the model learns`);
  for (const [rank, r] of results.entries()) {
    assertClose(r.losses[0], r.losses[1], F32, `${what}, rank ${rank}: losses`);
    assertClose(r.norms[0], r.norms[1], F32, `${what}, rank ${rank}: gradient norms`);
    for (const [name, [actual, expected]] of Object.entries(r.checks)) {
      assertClose(actual, expected, name.endsWith(".grad") ? F32 : WEIGHTS, `${what}, rank ${rank}: ${name}`);
    }
    assert.equal(r.checkpoint !== null, rank === 0, `${what}: only rank 0 gets the checkpoint`);
  }
  const checkpoint = first!.checkpoint!;
  assert.ok(Object.keys(checkpoint).length > 20);
  for (const [name, [actual, expected]] of Object.entries(checkpoint)) assertClose(actual, expected, WEIGHTS, `${what}, checkpoint: ${name}`);
}

const base: TPArgs = { vocabSize: 65, tiedHead: true, sequenceParallel: false, dropout: 0, steps: 20 };

for (const [what, size, args] of [
  ["t = 2, tied head, vocabulary 65 (padded to 66)", 2, base],
  ["t = 2, untied head, sequence parallel, dropout 0.1", 2, { ...base, tiedHead: false, sequenceParallel: true, dropout: 0.1 }],
  ["t = 4, dropout 0.1, vocabulary 65 (padded to 68)", 4, { ...base, dropout: 0.1 }],
  ["data 2 × tensor 2, sequence parallel, on the same global batch", 4, { ...base, sequenceParallel: true, data: 2 }],
] as const) {
  test(`tensor parallel (threads) ${what}: 20 AdamW steps give the single-process losses, gradients, weights and checkpoint`, {
    timeout: 120_000,
  }, async () => {
    assertSameAsUnsplit(await runRanks(size, args), what);
  });
}

test("tensor parallel (mpi) t = 2, untied head, sequence parallel, dropout 0.1: 20 AdamW steps give the single-process losses, gradients, weights and checkpoint", {
  skip: skipIfMissing(missingMpi()),
  timeout: 240_000,
}, () => {
  const args: TPArgs = { ...base, tiedHead: false, sequenceParallel: true, dropout: 0.1 };
  assertSameAsUnsplit(runUnderMpi<TPResult>(2, "tensor_parallel_rank.js", args, 60_000), "mpi, t = 2");
});
