import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";
import { runUnderMpi } from "./mpi_module.js";
import type { Result, Scenario } from "./all_to_all_rank.js";

async function runRanks(size: number, scenario: Scenario, scale: number, stagingBytes?: number): Promise<Result[]> {
  const job = startThreads({
    size,
    module: new URL("./all_to_all_rank.js", import.meta.url),
    args: { scenario, scale },
    stagingBytes,
    timeoutMs: 20_000,
    onLine: () => {},
  });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as Result;
  });
}

test("allToAll on 2 and 3 threads with uneven and empty splits delivers every segment in place", { timeout: 60_000 }, async () => {
  for (const size of [2, 3]) {
    for (const [rank, r] of (await runRanks(size, "uneven", 5)).entries()) {
      assert.equal(r.error, null, `${size} ranks, rank ${rank}`);
      assert.deepEqual(r.received, r.expected, `${size} ranks, rank ${rank}`);
    }
  }
});

test("allToAll segments larger than the staging area travel in several rounds", { timeout: 60_000 }, async () => {
  // 1 KiB of staging holds 64 elements per destination on 3 ranks: segments of up to 2 × 300 need 10 rounds.
  for (const [rank, r] of (await runRanks(3, "uneven", 300, 1024)).entries()) {
    assert.equal(r.error, null);
    assert.deepEqual(r.received, r.expected, `rank ${rank}`);
  }
});

test("allToAll with split sizes the ranks disagree on fails on every rank with the pair named, without hanging", { timeout: 60_000 }, async () => {
  const results = await runRanks(3, "mismatch", 2);
  for (const r of results) assert.match(r.error ?? "", /rank 0 sends 2 elements to rank 2, but rank 2 expects 3 from rank 0/);
});

test("allToAll (mpi) on 3 ranks: uneven and empty splits arrive in place; disagreeing splits fail on every rank", {
  skip: skipIfMissing(missingMpi()),
  timeout: 120_000,
}, () => {
  for (const [rank, r] of runUnderMpi<Result>(3, "all_to_all_rank.js", { scenario: "uneven", scale: 5 }).entries()) {
    assert.equal(r.error, null);
    assert.deepEqual(r.received, r.expected, `rank ${rank}`);
  }
  for (const r of runUnderMpi<Result>(3, "all_to_all_rank.js", { scenario: "mismatch", scale: 2 })) assert.match(r.error ?? "", /rank 2 expects 3 from rank 0/);
});
