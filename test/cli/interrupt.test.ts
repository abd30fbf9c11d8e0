import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { checkpointName, loadCheckpoint } from "../../src/train/checkpoint.js";
import { repoRoot } from "../helpers/paths.js";
import { missingFashionMnist, missingMpi, skipIfMissing } from "../helpers/prerequisites.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-interrupt-"));
after(() => rmSync(work, { recursive: true, force: true }));
const skip = skipIfMissing(missingFashionMnist());

// Long enough that a signal sent at step 3 arrives before the end even on a quiet machine, where
// 150 steps took 0.3 s and mpirun's relay of a Ctrl-C once came after the last one.
const STEPS = 1500;

/** A run long enough to be interrupted: a metrics line and an evaluation of the test set every step. */
const SLOW = [
  "--set",
  "model.kind=mlp",
  "--set",
  "model.hidden=[16]",
  "--set",
  `train.steps=${STEPS}`,
  "--set",
  "train.logEvery=1",
  "--set",
  "train.evalEvery=1",
  "--set",
  "train.threads=1",
];

/**
 * Starts `turbine args`, sends `signal` once the run's metrics.jsonl (under `outDir`) has step 3
 * (the file, not the output, which may lag): to the process, or with `group` to its whole
 * process group as a terminal's Ctrl-C does; resolves when it exits.
 */
function interrupted(args: string[], outDir: string, signal: NodeJS.Signals, group = false) {
  const proc = spawn(process.execPath, [cli, ...args, "--set", `outDir=${outDir}`], { cwd: work, detached: group });
  let output = "";
  proc.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  proc.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const metrics = join(work, outDir, "mlp", "version_0", "metrics.jsonl");
  const poll = setInterval(() => {
    if (existsSync(metrics) && readFileSync(metrics, "utf8").includes('"step":3,')) {
      clearInterval(poll);
      if (group) process.kill(-proc.pid!, signal);
      else proc.kill(signal);
    }
  }, 10);
  return new Promise<{ code: number | null; output: string }>((resolve) =>
    proc.on("exit", (code) => {
      clearInterval(poll);
      resolve({ code, output });
    }),
  );
}

/** True when the run's checkpoint of `step` is there, complete and verified, and holds that step. */
function savedAt(runDir: string, step: number): boolean {
  const dir = join(runDir, "checkpoints", checkpointName(step));
  if (!existsSync(dir)) return false;
  const checkpoint = loadCheckpoint(dir);
  checkpoint.close();
  return checkpoint.meta.step === step;
}

const records = (runDir: string) =>
  readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; step: number });

test("SIGTERM: the step finishes, a checkpoint is written, the resume command printed, exit 143; that command continues the run", {
  skip,
  timeout: 300_000,
}, async () => {
  const r = await interrupted(["train", ...SLOW], "term", "SIGTERM");
  assert.equal(r.code, 143, r.output);
  const hint = /interrupted by SIGTERM after step (\d+); resume with: turbine (train --resume (\S+))\n/.exec(r.output);
  assert.ok(hint, r.output);
  const step = Number(hint[1]),
    runDir = join(work, hint[3]!);
  assert.ok(step >= 3 && step < STEPS, `stopped at step ${step}`);
  assert.ok(savedAt(runDir, step), "the checkpoint of the last step");
  assert.equal(records(runDir).at(-1)!.step, step, "metrics end at the last step");

  const resumed = spawnSync(process.execPath, [cli, ...hint[2]!.split(" "), "--set", "train.evalEvery=50", "--no-progress"], {
    cwd: work,
    encoding: "utf8",
    timeout: 240_000,
  });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resumed from .*${checkpointName(step)} at step ${step}`));
  const trainSteps = records(runDir)
    .filter((m) => m.type === "train")
    .map((m) => m.step);
  assert.deepEqual(
    trainSteps,
    Array.from({ length: STEPS }, (_, i) => i + 1),
    "every step once",
  );
});

test("SIGINT under turbine launch (threads): every rank stops after the same step, rank 0 saves and prints the launch command, exit 130", {
  skip,
  timeout: 300_000,
}, async () => {
  const r = await interrupted(["launch", "-n", "2", "--threads-per-worker", "1", "--", "train", ...SLOW], "launched", "SIGINT");
  assert.equal(r.code, 130, r.output);
  const hint = /\[rank 0\] interrupted by SIGINT after step (\d+); resume with: turbine launch -n 2 -- train --resume (\S+)\n/.exec(r.output);
  assert.ok(hint, r.output);
  assert.ok(savedAt(join(work, hint[2]!), Number(hint[1])), "the checkpoint of the last step");
  assert.doesNotMatch(r.output, /failed|timed out/);
});

const noMpi = skipIfMissing(missingMpi());

test("Ctrl-C at the terminal under turbine launch --backend mpi: mpirun passes it on, rank 0 saves and prints the launch command, exit 130", {
  skip: skip || noMpi,
  timeout: 300_000,
}, async () => {
  const r = await interrupted(["launch", "-n", "2", "--backend", "mpi", "--threads-per-worker", "1", "--", "train", ...SLOW], "mpi", "SIGINT", true);
  assert.equal(r.code, 130, r.output);
  const hint = /\[rank 0\] interrupted by SIG(INT|TERM) after step (\d+); resume with: turbine launch -n 2 --backend mpi -- train --resume (\S+)\n/.exec(
    r.output,
  );
  assert.ok(hint, r.output);
  assert.ok(savedAt(join(work, hint[3]!), Number(hint[2])), "the checkpoint of the last step");
  assert.doesNotMatch(r.output, /\x1b\[/, "no escape codes in output that is not a terminal");
});

test("SIGTERM while the run is being built (its text still being read): it ends before training, exit 143, the message, no run folder", {
  timeout: 120_000,
}, async () => {
  // The text comes through a named pipe: turbine's read of it waits inside the build (the stop
  // watch is on by then) until this test writes it, so the signal lands there every time.
  const fifo = join(work, "text.fifo");
  execFileSync("mkfifo", [fifo]);
  const config = join(work, "fifo-gpt.json");
  const outDir = join(work, "built");
  const model = { kind: "gpt", layers: 1, heads: 1, width: 8, context: 8 };
  writeFileSync(
    config,
    JSON.stringify({ name: "fifo", outDir, model, data: { kind: "text", path: fifo, batchSize: 2, valBatches: 1 }, train: { steps: 5000 } }),
  );
  const proc = spawn(process.execPath, [cli, "train", config, "--no-progress"], { cwd: work });
  let output = "";
  proc.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  proc.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  // Opening the pipe to write returns once turbine has opened it to read.
  const writer = await open(fifo, "w");
  proc.kill("SIGTERM");
  // The handler runs on whichever thread the kernel picks: give it time before the build goes on.
  await sleep(500);
  await writer.write("and god said let there be light and there was light\n".repeat(60));
  await writer.close();
  const started = Date.now();
  const code = await exited;
  assert.equal(code, 143, output);
  assert.match(output, /^interrupted by SIGTERM before training started; nothing was written$/m);
  assert.doesNotMatch(output, /after step|resume with/);
  assert.ok(!existsSync(outDir), "no run folder");
  assert.ok(Date.now() - started < 30_000, "ended promptly once the text was read");
});

test("SIGTERM during `turbine data prepare`: it ends after the chunk in hand, exit 143, neither the output nor a temporary file left", {
  timeout: 120_000,
}, async () => {
  // ~66 MB: the second pass (the one that writes) takes 16 chunks of 4 MiB, long enough to be caught in.
  const text = join(work, "big.txt");
  writeFileSync(text, "And God said, Let there be light: and there was light.\n".repeat(1_200_000));
  const proc = spawn(process.execPath, [cli, "data", "prepare", text, "big.tokens"], { cwd: work });
  let output = "";
  proc.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const written = (): string[] => readdirSync(work).filter((f) => f.startsWith("big.tokens"));
  // The temporary output appears when the second pass starts: the stop watch is on by then.
  const poll = setInterval(() => {
    if (written().some((f) => f.endsWith(".tmp"))) {
      clearInterval(poll);
      proc.kill("SIGTERM");
    }
  }, 5);
  const code = await new Promise<number | null>((resolve) => proc.on("exit", (c) => resolve(c)));
  clearInterval(poll);
  rmSync(text);
  assert.equal(code, 143, output);
  assert.match(output, /^interrupted by SIGTERM; big\.tokens was not written$/m);
  assert.deepEqual(written(), [], "no output, no temporary file");
});
