import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import type { CompiledDdpRun } from "./ddp_compile_rank.js";

/**
 * Compiled DDP on 2 thread ranks equals eager DDP: the buckets' all-reduces run from the hooks
 * where backward fired them, the first micro-batch's backward under noSync, so every rank's
 * losses and parameters match its eager run's (and the ranks agree). Several small buckets make
 * several collectives per backward. ~2 s.
 */
test("DDP on 2 thread ranks, accumulation 2: compiled equals eager on every rank, and the ranks agree", { timeout: 60_000 }, async () => {
  const job = startThreads({ size: 2, module: new URL("./ddp_compile_rank.js", import.meta.url), onLine: () => {} });
  const results: { eager: CompiledDdpRun; compiled: CompiledDdpRun }[] = [];
  for (const outcome of await job.done) {
    assert.ok(outcome.ok, outcome.ok ? "" : outcome.error.stack);
    results[outcome.rank] = outcome.result as { eager: CompiledDdpRun; compiled: CompiledDdpRun };
  }
  results.forEach(({ eager, compiled }, rank) => {
    assert.ok(compiled.stats!.replays >= 16, `rank ${rank}: ${JSON.stringify(compiled.stats)}`);
    compiled.losses.forEach((loss, i) => {
      assert.ok(Math.abs(loss - eager.losses[i]!) <= 1e-6 * Math.abs(eager.losses[i]!), `rank ${rank}, step ${i + 1}: ${loss} vs ${eager.losses[i]}`);
    });
    compiled.params.forEach((p, i) => {
      p.forEach((v, j) => {
        assert.ok(Math.abs(v - eager.params[i]![j]!) <= 1e-6 * Math.max(1, Math.abs(v)), `rank ${rank}, parameter ${i}[${j}]: ${v} vs ${eager.params[i]![j]}`);
      });
    });
  });
  assert.deepEqual(results[1]!.compiled.params, results[0]!.compiled.params, "the ranks hold the same parameters");
  assert.notDeepEqual(results[1]!.compiled.losses, results[0]!.compiled.losses, "the ranks trained on different data");
});
