import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { repoRoot } from "../helpers/paths.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-progress-"));
after(() => rmSync(work, { recursive: true, force: true }));

const ESCAPE = /\x1b/;
const run = (name: string) => [
  "--set",
  "model.kind=mlp",
  "--set",
  "model.hidden=[16]",
  "--set",
  "train.steps=60",
  "--set",
  "train.logEvery=20",
  "--set",
  "train.evalEvery=30",
  "--set",
  "data.evalBatchSize=5000",
  "--set",
  `outDir=${name}`,
];
const launch = (backend: string, name: string) => ["launch", "-n", "2", "--backend", backend, "--threads-per-worker", "1", "--", "train", ...run(name)];

/** Runs the CLI with stdout and stderr sent to one file, as `turbine ... > log 2>&1` does; returns the file. */
function toFile(args: string[], name: string): { code: number; log: string } {
  const path = join(work, `${name}.log`);
  const fd = openSync(path, "w");
  try {
    const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, stdio: ["ignore", fd, fd], timeout: 300_000 });
    return { code: r.status ?? -1, log: readFileSync(path, "utf8") };
  } finally {
    closeSync(fd);
  }
}

/** Runs the CLI on a pseudo-terminal (util-linux `script`), as in an interactive shell; returns what the terminal got. */
function onTerminal(args: string[]): { code: number; screen: string } {
  const command = [process.execPath, cli, ...args].map((a) => `'${a}'`).join(" ");
  const r = spawnSync("script", ["-qec", command, "/dev/null"], { cwd: work, encoding: "utf8", timeout: 300_000 });
  return { code: r.status ?? -1, screen: r.stdout };
}

const progressLines = /step 20\/60 {2}epoch 1\/1 {2}mean loss \d\.\d{4} {2}lr \S+ {2}.* {2}elapsed \d+:\d\d {2}left \d+:\d\d {2}data wait \S+%$/m;

test("turbine train to a file: plain progress lines and results, a labelled summary, never 0 epochs", { timeout: 300_000 }, () => {
  const r = toFile(["train", ...run("single")], "single");
  assert.equal(r.code, 0, r.log);
  assert.doesNotMatch(r.log, ESCAPE);
  assert.match(r.log, progressLines);
  assert.match(r.log, /^eval at step 30 \(epoch 1\/1\): loss \d\.\d{4}, accuracy \d+\.\d\d%$/m);
  assert.match(r.log, /^trained 60 steps \(0\.13 epochs\) in \d+\.\d s: [\d,]+ samples\/s$/m);
  assert.match(r.log, /^data wait: [\d.]+ s/m);
  assert.match(r.log, /^peak memory: parameters/m);
});

test("turbine train --no-progress still shows the evaluation results", { timeout: 300_000 }, () => {
  const r = toFile(["train", ...run("quiet"), "--no-progress"], "quiet");
  assert.equal(r.code, 0, r.log);
  assert.doesNotMatch(r.log, /^step /m);
  assert.match(r.log, /^eval at step 30 \(epoch 1\/1\)/m);
  assert.match(r.log, /^eval at step 60 \(epoch 1\/1\)/m);
});

const noMpi = skipIfMissing(missingMpi());

for (const backend of ["threads", "mpi"]) {
  const skip = backend === "mpi" ? noMpi : false;

  test(`turbine launch --backend ${backend} to a file: rank 0's plain lines, no escape codes, throughput global and per rank`, {
    timeout: 300_000,
    skip,
  }, () => {
    const r = toFile(launch(backend, `file-${backend}`), `file-${backend}`);
    assert.equal(r.code, 0, r.log);
    assert.doesNotMatch(r.log, ESCAPE, "a log file gets no escape codes");
    assert.match(r.log, new RegExp(`^\\[rank 0\\] ${progressLines.source}`, "m"));
    assert.match(r.log, /samples\/s global \(\S+ per rank\)/);
    assert.match(r.log, /^\[rank 0\] eval at step 30 \(epoch 1\/1\)/m);
    assert.match(r.log, /^\[rank 0\] trained 60 steps \(0\.26 epochs\) in \d+\.\d s: [\d,]+ samples\/s global \([\d,]+ per rank\)$/m);
    assert.match(r.log, /^\[rank 0\] data wait \(rank 0\): /m, "rank 0's own figures say so");
    assert.match(r.log, /^\[rank 0\] peak memory \(rank 0\): /m);
    assert.doesNotMatch(r.log, /\[rank 1\] (step|eval)/, "only rank 0 shows progress");
  });

  test(`turbine launch --backend ${backend} on a terminal: rank 0 draws the bar, results print above it`, { timeout: 300_000, skip }, () => {
    const r = onTerminal(launch(backend, `tty-${backend}`));
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /epoch 1\/1 \|[░█]+\| 60\/60 \| mean loss \d\.\d{4} \| lr /, "the bar reaches the last step");
    assert.match(r.screen, /\r\x1b\[2Keval at step 30 \(epoch 1\/1\): loss/, "a result erases the bar's line");
    assert.doesNotMatch(r.screen, /^(\[rank 0\] )?step 20\/60/m, "no plain lines on a terminal");
  });
}

test("a launched run that fails with the bar drawn still ends, and gives the terminal its cursor back", { timeout: 300_000 }, () => {
  const diverging = ["--set", "optimizer.kind=sgd", "--set", "optimizer.lr=1e38", "--set", "train.steps=200"];
  const r = spawnSync(process.execPath, [cli, ...launch("threads", "failed"), ...diverging], {
    cwd: work,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, TURBINE_PROGRESS: "bar" },
  });
  assert.equal(r.status, 1, `exit code ${r.status} (null: it hung) ${r.stderr}`);
  assert.match(r.stderr, /\x1b\[\?25l/, "the bar hid the cursor");
  assert.match(r.stderr, /\x1b\[\?25h[\s\S]*turbine: loss is NaN at step \d+ \(epoch 1\)/, "and shows it again before the error");
});
