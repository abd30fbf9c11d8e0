// The mpi backend under mpirun: every collective with 2 and 4 ranks (4 oversubscribe the
// cores), sub-groups, async handles, timeouts, a rank killed mid-step, and the same
// collectives between network namespaces over TCP (the multi-host test bed).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { createTestbed, testbedUnavailable } from "../../testbed/netns.js";
import { assertClose, F32 } from "../helpers/compare.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";
import type { DDPArgs, DDPResult } from "./ddp_rank.js";

const worker = join(fileURLToPath(new URL(".", import.meta.url)), "mpi_worker.js");

const skip = skipIfMissing(missingMpi());

interface Job {
  status: number | null;
  output: string;
  lines: Record<string, unknown>[];
  ms: number;
}

function mpirun(args: string[], scenario: string, timeoutMs = 20_000, rankZeroTimeoutMs?: number): Job {
  const started = Date.now();
  const timeouts = [timeoutMs, ...(rankZeroTimeoutMs === undefined ? [] : [rankZeroTimeoutMs])].map(String);
  const r = spawnSync("mpirun", [...args, process.execPath, worker, scenario, ...timeouts], {
    encoding: "utf8",
    timeout: 120_000,
  });
  const output = `${r.stdout}${r.stderr}`;
  const lines = r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, output, lines, ms: Date.now() - started };
}

const local = (n: number): string[] => ["--allow-run-as-root", "--oversubscribe", "-n", String(n)];

for (const n of [2, 4]) {
  test(`mpi: every collective, async handles, sub-groups and argument errors on ${n} ranks`, { skip }, () => {
    const job = mpirun(local(n), "collectives");
    assert.equal(job.status, 0, job.output);
    assert.deepEqual(job.lines.map((l) => l.rank).sort(), [...Array(n).keys()], job.output);
    assert.ok(
      job.lines.every((l) => l.ok === true && l.size === n),
      job.output,
    );
  });
}

test("mpi: DDP over 2 ranks gives the single-rank result on the same global batch after 20 steps (AdamW, clipping, accumulation without sync, with and without overlap)", {
  skip,
  timeout: 300_000,
}, () => {
  const ddp = (n: number, args: DDPArgs): DDPResult[] => {
    const out = mkdtempSync(join(tmpdir(), "turbine-mpi-ddp-"));
    try {
      const job = mpirun(
        [...local(n), "-x", `TURBINE_DDP_ARGS=${JSON.stringify(args)}`, "-x", `TURBINE_DDP_OUT=${out}`, "-x", "OMP_NUM_THREADS=1"],
        "ddp",
        60_000,
      );
      assert.equal(job.status, 0, job.output);
      return Array.from({ length: n }, (_, r) => JSON.parse(readFileSync(join(out, `rank-${r}.json`), "utf8")) as DDPResult);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  };
  const args: DDPArgs = { steps: 20, globalBatch: 32, accumulate: 1 };
  const [single] = ddp(1, args);
  assert.ok(single!.losses[19]! < single!.losses[0]!, "the model learns");
  for (const [accumulate, overlap] of [
    [1, true],
    [2, true],
    [1, false],
  ] as const) {
    const ranks = ddp(2, { ...args, accumulate, overlap });
    assert.equal(ranks[0]!.duringBackward > 0, overlap, `overlap ${overlap}: ${ranks[0]!.duringBackward} all-reduces issued during backward`);
    for (const [r, result] of ranks.entries()) {
      result.params.forEach((p, i) => assertClose(p, single!.params[i]!, F32, `mpi, accumulate ${accumulate}, overlap ${overlap}: rank ${r} parameter ${i}`));
      assert.deepEqual(result.params, ranks[0]!.params, "replicas stay bitwise identical");
    }
    const mean = single!.losses.map((_, s) => (ranks[0]!.losses[s]! + ranks[1]!.losses[s]!) / 2);
    assertClose(mean, single!.losses, F32, "mean loss of the two shards");
  }
});

test("mpi: a collective that a rank never joins fails within the timeout on every rank, naming op, rank and peer", { skip }, () => {
  const job = mpirun(local(2), "timeout", 1500);
  const byRank = new Map(job.lines.map((l) => [l.rank, l]));
  assert.match(String(byRank.get(0)?.error), /^allReduce on rank 0: timed out after 1500 ms/, job.output);
  assert.match(String(byRank.get(1)?.error), /^recv on rank 1 \(peer rank 0\): timed out after 1500 ms/, job.output);
  for (const l of job.lines) assert.ok(Number(l.elapsedMs) >= 1500 && Number(l.elapsedMs) < 4000, job.output);
});

test("mpi: killing a rank mid-step ends every other rank within the timeout, and the message names the dead rank", { skip }, () => {
  const timeoutMs = 10_000;
  const job = mpirun(local(4), "kill", timeoutMs);
  const killedAt = Number(job.lines.find((l) => l.killedAt !== undefined)?.killedAt);
  assert.ok(killedAt > 0, job.output);
  // Open MPI's runtime ends the survivors itself (mpirun's default) and says which rank died.
  assert.notEqual(job.status, 0);
  assert.ok(Date.now() - killedAt < timeoutMs, `survivors ran ${Date.now() - killedAt} ms after the kill\n${job.output}`);
  assert.match(job.output, /process rank 1 with PID \d+ on node \S+ exited on signal 9/);
});

test("mpi: under mpirun --enable-recovery the survivors of a killed rank time out with an error naming it", { skip }, () => {
  const timeoutMs = 3000;
  const job = mpirun(["--enable-recovery", ...local(3)], "kill", timeoutMs);
  const killedAt = Number(job.lines.find((l) => l.killedAt !== undefined)?.killedAt);
  const survivors = job.lines.filter((l) => l.error !== undefined);
  assert.deepEqual(survivors.map((l) => l.rank).sort(), [0, 2], job.output);
  for (const l of survivors) {
    assert.match(String(l.error), new RegExp(`^allReduce on rank ${l.rank} \\(peer rank 1\\): timed out after 3000 ms: rank 1 died`), job.output);
    assert.ok(Number(l.endedAt) - killedAt < timeoutMs + 1000, job.output);
  }
});

test("mpi: a survivor names the rank that died first, not a neighbour that timed out and exited before it", { skip }, () => {
  // Rank 1 is killed; rank 0 times out after 1 s and exits; rank 2 times out after 3 s, when
  // ranks 0 and 1 are both gone, and must still name rank 1 (the lowest dead rank is 0).
  const job = mpirun(["--enable-recovery", ...local(3)], "kill", 3000, 1000);
  const byRank = new Map(job.lines.filter((l) => l.error !== undefined).map((l) => [l.rank, l]));
  assert.match(String(byRank.get(0)?.error), /^allReduce on rank 0 \(peer rank 1\): timed out after 1000 ms: rank 1 died/, job.output);
  assert.match(String(byRank.get(2)?.error), /^allReduce on rank 2 \(peer rank 1\): timed out after 3000 ms: rank 1 died/, job.output);
  assert.ok(Number(byRank.get(2)?.endedAt) - Number(byRank.get(0)?.endedAt) > 1000, `rank 0 ended well before rank 2\n${job.output}`);
});

const bedSkip = skip || skipIfMissing(testbedUnavailable());

test("mpi: every collective between 2 and 4 network namespaces over TCP (the multi-host test bed)", { skip: bedSkip }, () => {
  for (const hosts of [2, 4]) {
    const bed = createTestbed({ hosts, rate: "1gbit" });
    try {
      const job = mpirun(bed.mpirunArgs(), "collectives");
      assert.equal(job.status, 0, job.output);
      assert.equal(job.lines.filter((l) => l.ok === true).length, hosts, job.output);
      // The data went over the hosts' own links (the async step alone all-reduces 768 KB).
      for (const ns of bed.namespaces) {
        const [link] = JSON.parse(execFileSync("ip", ["-n", ns, "-s", "-j", "link", "show", "eth0"], { encoding: "utf8" })) as {
          stats64: { tx: { bytes: number } };
        }[];
        assert.ok(link!.stats64.tx.bytes > 500_000, `${ns} sent only ${link!.stats64.tx.bytes} bytes`);
      }
    } finally {
      bed.destroy();
    }
  }
});
