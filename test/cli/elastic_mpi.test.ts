import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { rankProcess, writingCheckpoint } from "../helpers/elastic.js";
import { repoRoot } from "../helpers/paths.js";
import { missingFashionMnist, missingMpi, skipIfMissing } from "../helpers/prerequisites.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-elastic-mpi-"));
after(() => rmSync(work, { recursive: true, force: true }));
const skip = skipIfMissing(missingMpi() ?? missingFashionMnist());

/** 40 steps of an mlp, an evaluation and a checkpoint every 5: slow enough to be killed mid-run. */
const JOB = (hidden: number) => [
  "--set",
  "model.kind=mlp",
  "--set",
  `model.hidden=[${hidden}]`,
  "--set",
  "train.steps=40",
  "--set",
  "train.logEvery=1",
  "--set",
  "train.evalEvery=5",
  "--set",
  "checkpoint.every=5",
  "--set",
  "data.evalBatchSize=5000",
  "--no-progress",
  "--json",
];

/**
 * `turbine launch --backend mpi -n 2 --max-restarts 3` of the job under its own outDir; the first
 * time `when(runDir)` holds, rank `rank`'s process gets SIGKILL. Resolves with the exit code,
 * the output and whether the kill happened.
 */
function killedLaunch(name: string, hidden: number, rank: number, when: (runDir: string) => boolean) {
  const out = join(work, name);
  const runDir = join(out, "mlp", "version_0");
  const launch = "launch --backend mpi -n 2 --threads-per-worker 1 --max-restarts 3 -- train".split(" ");
  const args = [...launch, ...JOB(hidden), "--set", `outDir=${out}`];
  const proc = spawn(process.execPath, [cli, ...args], { cwd: work });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  let killed = false;
  const poll = setInterval(() => {
    if (killed || !when(runDir)) return;
    // This job's rank only: its environment names this test's run folder.
    const pid = rankProcess(rank, out);
    if (pid === null) return;
    process.kill(pid, "SIGKILL");
    killed = true;
  }, 1);
  return new Promise<{ code: number | null; stdout: string; stderr: string; killed: boolean; runDir: string }>((resolve) =>
    proc.on("close", (code) => {
      clearInterval(poll);
      resolve({ code, stdout, stderr, killed, runDir });
    }),
  );
}

const stepReached = (step: number) => (runDir: string) => {
  const metrics = join(runDir, "metrics.jsonl");
  return existsSync(metrics) && readFileSync(metrics, "utf8").includes(`"step":${step},`);
};

/** The elastic report of the --json line. */
const elasticOf = (stdout: string) =>
  (JSON.parse(stdout.trim().split("\n").at(-1)!) as { steps: number; elastic: { restarts: number; segments: { ranks: number; failure: string | null }[] } })
    .elastic;

test("mpi: kill -9 of a rank ends the job at once, and it restarts from its newest checkpoint and finishes", { skip, timeout: 300_000 }, async () => {
  const r = await killedLaunch("kill", 16, 1, stepReached(12));
  assert.ok(r.killed, "rank 1 was never killed");
  assert.equal(r.code, 0, r.stderr);
  const elastic = elasticOf(r.stdout);
  assert.equal(elastic.restarts, 1);
  assert.match(elastic.segments[0]!.failure!, /rank 1 .*signal 9/);
  assert.deepEqual(
    elastic.segments.map((s) => s.ranks),
    [2, 2],
  );
  assert.match(r.stderr, /\[rank 0\] resumed from .*step-000000(10|15) at step (10|15)/);
  const steps = readFileSync(join(r.runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; step: number })
    .filter((m) => m.type === "train")
    .map((m) => m.step);
  assert.deepEqual(
    steps,
    Array.from({ length: 40 }, (_, i) => i + 1),
    "every step once",
  );
});

test("mpi: kill -9 of rank 0 while it writes a checkpoint still ends in a finished run", { skip, timeout: 300_000 }, async () => {
  const r = await killedLaunch("mid-write", 256, 0, writingCheckpoint);
  assert.ok(r.killed, "rank 0 was never killed during a checkpoint write");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(elasticOf(r.stdout).restarts, 1);
  assert.ok(existsSync(join(r.runDir, "checkpoints", "step-00000040")));
});

test("mpi: kill -9 of rank 0 as soon as it starts (before it wrote anything) restarts from step 0 and finishes", { skip, timeout: 300_000 }, async () => {
  // The launcher writes the run's config.json itself: a restart used to find none and every
  // rank failed to read it (4 of the elastic bench's 20 runs).
  const r = await killedLaunch("at-start", 16, 0, () => true);
  assert.ok(r.killed, "rank 0 was never killed");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(elasticOf(r.stdout).restarts, 1, JSON.stringify(elasticOf(r.stdout).segments));
  assert.match(r.stderr, /restart 1 of 3 on 2 ranks from step 0 \(no complete checkpoint yet\)/);
});
