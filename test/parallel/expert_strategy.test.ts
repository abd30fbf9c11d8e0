import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { assertClose, F32, type Tolerance } from "../helpers/compare.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";
import type { ExpertArgs, ExpertResult } from "./expert_strategy_rank.js";
import { runUnderMpi } from "./mpi_module.js";

async function runRanks(size: number, args: ExpertArgs): Promise<ExpertResult[]> {
  const job = startThreads({ size, module: new URL("./expert_strategy_rank.js", import.meta.url), args, timeoutMs: 30_000, onLine: () => {} });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as ExpertResult;
  });
}

/** Weights: AdamW magnifies rounding noise in near-zero gradients (see tensor_parallel.test.ts). */
const WEIGHTS: Tolerance = { rtol: 1e-5, floor: 1e-3 };

/**
 * Losses, norms, gradients and weights equal one process accumulating the ranks' batches; each
 * rank holds the shared layers and exactly its experts (names and the tracker's bytes); the
 * first expert group's checkpoint pieces are the reference's tensors. Catches expert gradients
 * averaged like the shared ones (a factor of the expert size), a norm counting shared layers on
 * every rank, other ranks' experts materialised (bytes), and a strategy that only works with one
 * expert group (4 ranks: the owners of an expert in both groups sum their gradients).
 */
function assertSameAsOneProcess(results: ExpertResult[], expert: number, what: string): void {
  const perRank = 4 / expert;
  for (const [rank, r] of results.entries()) {
    assertClose(r.losses[0], r.losses[1], F32, `${what}, rank ${rank}: losses`);
    assertClose(r.norms[0], r.norms[1], F32, `${what}, rank ${rank}: gradient norms`);
    const experts = new Set(r.held.filter((n) => n.includes(".experts.")).map((n) => Number(n.split(".experts.")[1]!.split(".")[0])));
    const index = rank % expert;
    assert.deepEqual(
      [...experts].sort(),
      Array.from({ length: perRank }, (_, j) => index * perRank + j),
      `${what}, rank ${rank}: holds its experts only`,
    );
    assert.equal(r.parameterBytes[0], r.parameterBytes[1], `${what}, rank ${rank}: the tracker's parameter bytes are the shared layers and its experts`);
    for (const [name, [actual, expected]] of Object.entries(r.checks))
      assertClose(actual, expected, name.endsWith(".grad") ? F32 : WEIGHTS, `${what}, rank ${rank}: ${name}`);
    for (const [name, [actual, expected]] of Object.entries(r.checkpoint)) assertClose(actual, expected, WEIGHTS, `${what}, rank ${rank}: checkpoint ${name}`);
    assert.equal(Object.keys(r.checkpoint).length > 0, rank < expert, `${what}, rank ${rank}: the first expert group writes the checkpoint`);
  }
}

for (const scenario of ["balanced", "oneExpert"] as const) {
  const what = scenario === "balanced" ? "4 experts top-2" : "every token's first choice on expert 0 (capacity overflows)";
  test(`expert parallel training (threads) on 2 ranks (expert 2) and 4 ranks (data 4, expert 2), ${what}: 10 AdamW steps equal one process`, {
    timeout: 120_000,
  }, async () => {
    assertSameAsOneProcess(await runRanks(2, { expert: 2, steps: 10, scenario }), 2, `2 ranks ${scenario}`);
    assertSameAsOneProcess(await runRanks(4, { expert: 2, steps: 10, scenario }), 2, `4 ranks ${scenario}`);
  });
}

test("expert parallel training (mpi) on 2 ranks, balanced and one-expert routing: 10 AdamW steps equal one process", {
  skip: skipIfMissing(missingMpi()),
  timeout: 120_000,
}, () => {
  for (const scenario of ["balanced", "oneExpert"] as const)
    assertSameAsOneProcess(runUnderMpi<ExpertResult>(2, "expert_strategy_rank.js", { expert: 2, steps: 10, scenario }, 30_000), 2, `mpi ${scenario}`);
});
