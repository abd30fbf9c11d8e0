import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { assertClose, F32 } from "../helpers/compare.js";
import type { Checks, Scenario } from "./region_rank.js";

async function runRanks(size: number, scenario: Scenario): Promise<Checks[]> {
  const job = startThreads({ size, module: new URL("./region_rank.js", import.meta.url), args: { scenario }, onLine: () => {} });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as Checks;
  });
}

for (const scenario of ["mlp", "gather", "sequence"] as const) {
  const what = {
    mlp: "copyToRegion and reduceFromRegion (Megatron's f and g) around a column- then row-parallel MLP",
    gather: "gatherFromRegion after a column-parallel layer (backward: this rank's slice)",
    sequence: "sequence parallel: scatterToRegion, gatherFromRegion with a reduce-scatter backward, reduceScatterToRegion",
  }[scenario];
  test(`${what}: on 2 and 4 threads, the outputs and gradients of the unsplit model`, { timeout: 60_000 }, async () => {
    for (const size of [2, 4]) {
      for (const [rank, checks] of (await runRanks(size, scenario)).entries()) {
        assert.ok(Object.keys(checks).length >= 3);
        for (const [name, [actual, expected]] of Object.entries(checks)) assertClose(actual, expected, F32, `${size} ranks, rank ${rank}: ${name}`);
      }
    }
  });
}
