import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { assertClose, F32 } from "../helpers/compare.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";
import { runUnderMpi } from "./mpi_module.js";
import type { Checks, Scenario } from "./expert_parallel_rank.js";

function assertEqualsOneRank(results: Checks[], what: string): void {
  const size = results.length;
  for (const [rank, { values, stray }] of results.entries()) {
    assert.deepEqual(stray, [], `${what}, rank ${rank}: other ranks' experts got gradients`);
    assert.ok(Object.keys(values).length >= 2 + 1 + (4 / size) * 4, `${what}, rank ${rank}: checks ${Object.keys(values)}`);
    for (const [name, [actual, expected]] of Object.entries(values)) assertClose(actual, expected, F32, `${what}, rank ${rank}: ${name}`);
  }
}

async function runRanks(size: number, scenario: Scenario): Promise<Checks[]> {
  const job = startThreads({ size, module: new URL("./expert_parallel_rank.js", import.meta.url), args: { scenario }, timeoutMs: 20_000, onLine: () => {} });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as Checks;
  });
}

// The reference is the same layer with every expert on one rank, run on each rank's tokens in
// turn (routing and capacity are per micro-batch). Catches tokens returned to the wrong rank or
// slot, a backward that does not send gradients back to the tokens' ranks (input gradients), and
// expert gradients missing the other ranks' tokens.
for (const scenario of ["balanced", "oneExpert"] as const) {
  const what = scenario === "balanced" ? "4 experts top-2" : "every token's first choice on expert 0 (capacity overflows)";
  test(`expert parallelism on 2 and 4 threads, ${what}: outputs and all gradients equal 1 rank within 1e-5, without hanging`, { timeout: 60_000 }, async () => {
    for (const size of [2, 4]) assertEqualsOneRank(await runRanks(size, scenario), `${size} threads`);
  });
}

test("expert parallelism (mpi) on 2 ranks, balanced and one-expert routing: equal to 1 rank within 1e-5", {
  skip: skipIfMissing(missingMpi()),
  timeout: 120_000,
}, () => {
  for (const scenario of ["balanced", "oneExpert"] as const)
    assertEqualsOneRank(runUnderMpi<Checks>(2, "expert_parallel_rank.js", { scenario }), `mpi, ${scenario}`);
});
