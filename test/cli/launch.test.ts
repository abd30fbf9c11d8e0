import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { initProcessGroup } from "../../src/parallel/init.js";
import { repoRoot } from "../helpers/paths.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-launch-"));
after(() => rmSync(work, { recursive: true, force: true }));

function turbine(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: "utf8", timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const small = [
  "--set",
  "model.kind=mlp",
  "--set",
  "model.hidden=[16]",
  "--set",
  "train.steps=4",
  "--set",
  "train.logEvery=1",
  "--set",
  "data.evalBatchSize=5000",
  "--no-progress",
];

/** Runs a 2-rank launch of the small mlp in its own folder; checks the logs, the metrics and the checkpoints. */
function launchTwoRanks(backend: "threads" | "mpi"): void {
  // -n on one backend, torchrun's --nproc-per-node on the other: the same 2 ranks.
  const ranks = backend === "threads" ? ["-n", "2"] : ["--nproc-per-node", "2"];
  const r = turbine([
    "launch",
    ...ranks,
    "--backend",
    backend,
    "--threads-per-worker",
    "1",
    "--",
    "train",
    ...small,
    "--set",
    `outDir=runs-${backend}`,
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const all = r.stdout + r.stderr;
  assert.match(r.stdout, /^\[rank 0\] trained 4 steps/m, "the summary goes to stdout");
  assert.doesNotMatch(all, /\[rank 1\] trained/, "only rank 0 prints the summary");
  const json = r.stdout.trim().split("\n").at(-1)!;
  assert.equal((JSON.parse(json) as { steps: number }).steps, 4, "--json's line comes last on stdout, untagged, for jq");
  assert.deepEqual(
    all.split("\n").filter((line) => line !== "" && line !== json && !/^\[rank [01]\] /.test(line)),
    [],
    "every other line names its rank",
  );
  const metrics = readFileSync(join(work, `runs-${backend}`, "mlp", "version_0", "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; step: number });
  assert.deepEqual(
    metrics.filter((m) => m.type === "train").map((m) => m.step),
    [1, 2, 3, 4],
    "one writer: each step logged once",
  );
  assert.ok(existsSync(join(work, `runs-${backend}`, "mlp", "version_0", "checkpoints")));
}

test("turbine launch -n 2 trains data-parallel: rank-prefixed logs, rank 0 reports and writes the run", { timeout: 300_000 }, () => launchTwoRanks("threads"));

test("under turbine launch, rank 0 gives each run its own version folder, and a resumed run continues its metrics without repeats", {
  timeout: 300_000,
}, () => {
  const out = join(work, "runs-resume");
  const launch = (args: string[]) => turbine(["launch", "-n", "2", "--threads-per-worker", "1", "--", "train", ...args]);
  for (const version of [0, 1]) {
    const r = launch([...small, "--set", "checkpoint.every=2", "--set", `outDir=${out}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, new RegExp(`run folder: ${out}/mlp/version_${version} `));
  }
  const run = join(out, "mlp", "version_0");
  rmSync(join(run, "checkpoints", "step-00000004"), { recursive: true });
  const resumed = launch(["--no-progress", "--resume", run]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /\[rank 0\] resumed from .*step-00000002 at step 2/);
  const metrics = readFileSync(join(run, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; step: number });
  assert.deepEqual(
    metrics.map((m) => `${m.type}${m.step}`),
    ["train1", "train2", "train3", "train4", "eval4"],
  );
  assert.ok(existsSync(join(run, "checkpoints", "step-00000004")));
});

const noMpi = skipIfMissing(missingMpi());
test("turbine launch --backend mpi: the same job, each process tagging its lines with its rank", { timeout: 300_000, skip: noMpi }, () =>
  launchTwoRanks("mpi"),
);

test("turbine launch rejects bad usage with exit 2", () => {
  const zero = turbine(["launch", "-n", "0", "--", "train"]);
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /launch: -n must be a positive integer, got "0"/);
  const other = turbine(["launch", "-n", "2", "--", "node", "x.js"]);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /launch: each rank runs a turbine command \(train, sample, bench, data, checkpoint(, [a-z]+)*\), got "node x\.js"/);
  const backend = turbine(["launch", "-n", "2", "--backend", "nccl", "--", "train"]);
  assert.equal(backend.code, 2);
  assert.match(backend.stderr, /--backend must be threads or mpi, got "nccl"/);
});

test("initProcessGroup outside a launched job says how to start one", async () => {
  await assert.rejects(initProcessGroup(), /initProcessGroup: not started as a distributed rank .*turbine launch -n N -- train CONFIG/);
});

test("turbine launch runs any turbine command on the ranks, on both backends (train --list here)", { timeout: 120_000 }, () => {
  for (const backend of noMpi ? ["threads"] : ["threads", "mpi"]) {
    const r = turbine(["launch", "-n", "2", "--backend", backend, "train", "--list"]);
    assert.equal(r.code, 0, r.stderr);
    const all = r.stdout + r.stderr;
    for (const rank of [0, 1]) assert.match(all, new RegExp(`^\\[rank ${rank}\\] gpt-char +gpt on text`, "m"), `${backend}: rank ${rank} listed the configs`);
  }
});
