import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import type { RankOutcome } from "../../src/parallel/threads/spawn.js";
import { assertClose, F32 } from "../helpers/compare.js";
import type { PsArgs, PsResult } from "./ps_rank.js";

function start(size: number, args: PsArgs) {
  return startThreads({ size, module: new URL("./ps_rank.js", import.meta.url), args, onLine: () => {}, threadsPerWorker: 1, timeoutMs: 20_000 });
}

function results(outcomes: RankOutcome[]): PsResult[] {
  return outcomes.map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as PsResult;
  });
}

/** The largest lead of a worker over the slowest worker still training, at any pull. */
function largestLead(ranks: PsResult[]): number {
  let lead = 0;
  for (const r of ranks)
    for (const pull of r.pulls) {
      const own = pull.clocks[pull.worker]!;
      assert.equal(own, pull.step - 1, `worker ${pull.worker} at step ${pull.step}: the servers count its completed steps`);
      lead = Math.max(lead, own - Math.min(...pull.clocks.filter((c) => c >= 0)));
    }
  return lead;
}

test("synchronous parameter server (staleness 0) equals the single-process run on the same global batch, with 1 and 2 servers", {
  timeout: 120_000,
}, async () => {
  const args: PsArgs = { steps: 10, globalBatch: 16, servers: 1, staleness: 0 };
  const [single] = results(await start(1, args).done);
  assert.ok(single!.losses.at(-1)! < single!.losses[0]!, "the model learns");
  for (const servers of [1, 2]) {
    const ranks = results(await start(2 + servers, { ...args, servers }).done);
    const workers = ranks.filter((r) => r.role === "worker");
    assert.equal(workers.length, 2);
    for (const [w, result] of workers.entries())
      result.params.forEach((p, i) => assertClose(p, single!.params[i]!, F32, `${servers} servers: worker ${w} parameter ${i}`));
    const mean = single!.losses.map((_, s) => (workers[0]!.losses[s]! + workers[1]!.losses[s]!) / 2);
    assertClose(mean, single!.losses, F32, `${servers} servers: mean loss`);
    const served = ranks.filter((r) => r.role === "server").map((r) => r.serve!);
    // One step per clock on the mean, not one per push: a server applying each push would differ above.
    for (const s of served) assert.deepEqual([s.pushes, s.steps, s.gone], [2 * args.steps, args.steps, []]);
    assert.equal(largestLead(workers), 0, "synchronous: no worker ever starts a step ahead of another");
  }
});

test("stale-synchronous: with one worker slowed, no worker starts a step more than k steps ahead of the slowest, and the fast ones do run ahead", {
  timeout: 120_000,
}, async () => {
  for (const staleness of [1, 3]) {
    const ranks = results(await start(4, { steps: 14, globalBatch: 12, servers: 1, staleness, slow: { rank: 1, ms: 40 } }).done);
    const workers = ranks.filter((r) => r.role === "worker");
    assert.equal(workers.length, 3);
    assert.equal(largestLead(workers), staleness, `staleness ${staleness}: the largest lead seen at any pull is the bound itself`);
    const [server] = ranks.filter((r) => r.role === "server");
    assert.deepEqual([server!.serve!.pushes, server!.serve!.steps], [42, 42], "each push is its own step");
  }
  const free = results(await start(3, { steps: 14, globalBatch: 12, servers: 1, staleness: Infinity, slow: { rank: 1, ms: 40 } }).done);
  assert.ok(largestLead(free.filter((r) => r.role === "worker")) > 3, "fully asynchronous: the fast worker is not held back");
});

test("a worker that dies does not stop the others; a server that dies ends the workers with an error naming it", { timeout: 120_000 }, async () => {
  const outcomes = await start(3, { steps: 10, globalBatch: 8, servers: 1, staleness: 0, die: { rank: 1, step: 4 } }).done;
  assert.ok(!outcomes[1]!.ok, "worker 1 failed");
  const [worker0, , server] = outcomes as [RankOutcome, RankOutcome, RankOutcome];
  assert.ok(worker0.ok && server.ok, "the other worker and the server finish");
  assert.equal((worker0.result as PsResult).losses.length, 10);
  assert.deepEqual((server.result as PsResult).serve!.gone, [1]);

  const job = start(4, { steps: 400, globalBatch: 8, servers: 2, staleness: 1, slow: { rank: 0, ms: 10 } });
  const started = Date.now();
  setTimeout(() => void job.workers[3]!.terminate(), 700);
  const ended = await job.done;
  assert.ok(Date.now() - started < 15_000, "the workers fail at once, not at a timeout");
  for (const rank of [0, 1]) {
    const o = ended[rank]!;
    assert.ok(!o.ok, `worker ${rank} fails`);
    assert.match(o.error.message, /^parameter server rank 3 failed \(.*exited.*\); the workers cannot train without its shard/);
  }
});
