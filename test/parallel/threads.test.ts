import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { createWorldSpec, spinBudgetMs } from "../../src/parallel/threads/world.js";
import { rankValues, smallValues } from "./collectives_rank.js";

const rankModule = new URL("./collectives_rank.js", import.meta.url);

async function runAll(size: number, args: object, options: object = {}) {
  const job = startThreads({ size, module: rankModule, args, onLine: () => {}, ...options });
  return { job, outcomes: await job.done };
}

function expected(size: number, n: number) {
  const ranks = [...Array(size).keys()];
  const per = ranks.map((r) => rankValues(r, n));
  const sum = per[0]!.map((_, i) => per.reduce((a, v) => a + v[i]!, 0));
  const perWide = ranks.map((r) => rankValues(r, n * size));
  const wideSum = perWide[0]!.map((_, i) => perWide.reduce((a, v) => a + v[i]!, 0));
  const small = ranks.map((r) => smallValues(r, n));
  return {
    sum,
    mean: sum.map((v) => Math.fround(Math.fround(v) * Math.fround(1 / size))),
    max: per[0]!.map((_, i) => Math.max(...per.map((v) => v[i]!))),
    bf16: small[0]!.map((_, i) => small.reduce((a, v) => a + v[i]!, 0)),
    reduceScatter: (rank: number) => wideSum.slice(rank * n, (rank + 1) * n),
    allGather: per.flat(),
    broadcast: per[size - 1]!,
    ring: (rank: number) => per[(rank + size - 1) % size]!,
  };
}

for (const [size, n, stagingBytes] of [
  [2, 1000, undefined],
  [3, 5003, 4096], // pieces: the tensors are larger than the staging area
  [4, 37, undefined], // chunks smaller than the 16-element alignment
  [2, 0, undefined], // empty tensors still keep the ranks in step
] as const) {
  test(`threads backend: every collective on ${size} ranks (${n} elements${stagingBytes ? `, ${stagingBytes}-byte staging` : ""}) matches the reference`, {
    timeout: 60_000,
  }, async () => {
    const { outcomes } = await runAll(size, { scenario: "collectives", n }, stagingBytes ? { stagingBytes } : {});
    const e = expected(size, n);
    for (const o of outcomes) {
      assert.ok(o.ok, o.ok ? "" : o.error.stack);
      const r = o.result as Record<string, number[]>;
      assert.deepEqual(r["allReduce.sum"], e.sum);
      assert.deepEqual(r["allReduce.mean"], e.mean);
      assert.deepEqual(r["allReduce.max"], e.max);
      assert.deepEqual(r["async.completedBeforeWait"], [0], "async work runs when waited on");
      assert.deepEqual(r["allReduce.shared.sum"], e.sum);
      assert.deepEqual(r["allReduce.bf16.sum"], e.bf16);
      assert.deepEqual(r["reduceScatter.sum"], e.reduceScatter(o.rank));
      assert.deepEqual(r.allGather, e.allGather);
      assert.deepEqual(r.broadcast, e.broadcast);
      assert.deepEqual(r.ring, e.ring(o.rank));
      const odd = [...Array(size).keys()].filter((k) => k % 2 === 1).reverse();
      if (odd.includes(o.rank)) {
        const subRank = odd.indexOf(o.rank),
          total = (odd.length * (odd.length + 1)) / 2;
        assert.deepEqual(r.sub, [subRank, odd.length, total, 10 * total], "sub-group ranks renumbered in the order given");
      } else {
        assert.equal(r.sub, undefined);
      }
    }
  });
}

test("threads backend: terminating a worker mid-run ends every other rank with a CollectiveError naming it, within the timeout", {
  timeout: 60_000,
}, async () => {
  const timeoutMs = 20_000;
  const job = startThreads({ size: 4, module: rankModule, args: { scenario: "loop-until-failure" }, onLine: () => {}, timeoutMs });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const killedAt = performance.now();
  await job.workers[2]!.terminate();
  const outcomes = await job.done;
  const elapsed = (performance.now() - killedAt) / 1000;
  assert.ok(elapsed < timeoutMs / 1000, `survivors took ${elapsed} s`);
  for (const o of outcomes) {
    if (o.rank === 2) {
      assert.equal(o.ok, false);
      continue;
    }
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    const r = o.result as { name: string; message: string; peer: number };
    assert.equal(r.name, "CollectiveError");
    assert.equal(r.peer, 2);
    assert.match(r.message, new RegExp(`^allReduce on rank ${o.rank} \\(peer rank 2\\): peer rank 2 exited`));
  }
});

test("threads backend: a peer that never arrives fails the wait after the timeout, naming op, rank and peer", { timeout: 60_000 }, async () => {
  const { outcomes } = await runAll(2, { scenario: "straggler", n: 4000 }, { timeoutMs: 500 });
  const r0 = outcomes[0]!;
  assert.ok(r0.ok);
  const result = r0.result as { name: string; message: string; seconds: number };
  assert.equal(result.name, "CollectiveError");
  assert.match(result.message, /^barrier on rank 0 \(peer rank 1\): timed out after 500 ms/);
  assert.ok(result.seconds >= 0.45 && result.seconds < 3.5, `failed after ${result.seconds} s`);
  // Rank 0 had arrived before it gave up, so the late rank 1 passes the barrier.
  assert.ok(outcomes[1]!.ok);
});

test("threads backend: ranks calling different collectives fail with an error naming both calls", { timeout: 60_000 }, async () => {
  const { outcomes } = await runAll(2, { scenario: "mismatch" });
  const [a, b] = outcomes.map((o) => (o.ok ? (o.result as { message: string }).message : o.error.message));
  assert.match(a!, /^allReduce on rank 0 \(peer rank 1\): ranks disagree .* rank 1 called broadcast/);
  assert.match(b!, /^broadcast on rank 1 \(peer rank 0\): ranks disagree .* rank 0 called allReduce/);
});

test("threads backend: a recv whose tag or size differs from the message fails naming both", { timeout: 60_000 }, async () => {
  const { outcomes } = await runAll(2, { scenario: "tag-mismatch" });
  assert.ok(outcomes[0]!.ok && outcomes[0]!.result === null, "a message that fits the mailbox is sent eagerly");
  const r1 = outcomes[1]!;
  assert.ok(r1.ok);
  assert.match((r1.result as { message: string }).message, /^recv on rank 1 \(peer rank 0\): expected tag 2 with 256 bytes, rank 0 sent tag 1 with 256 bytes/);
});

test("threads backend: waits spin before sleeping only while every rank's threads have a core", () => {
  // Catches counting ranks without their threads, and a budget where one rank must share a core.
  assert.equal(spinBudgetMs(2, 1, 2), 0.25);
  assert.equal(spinBudgetMs(4, 2, 8), 0.25);
  assert.equal(spinBudgetMs(2, 2, 2), 0);
  assert.equal(spinBudgetMs(8, 1, 2), 0);
  assert.equal(createWorldSpec(2).spinMs, 0);
  assert.throws(() => createWorldSpec(2, { spinMs: -1 }), /spinMs must be in \[0, timeoutMs\), got -1/);
});
