import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { repoRoot } from "../helpers/paths.js";
import { TINY_GPT_CHAR } from "../helpers/tiny_gpt.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const gptChar = join(repoRoot(), "examples", "gpt-char.json");
const work = mkdtempSync(join(tmpdir(), "turbine-tensor-"));
after(() => rmSync(work, { recursive: true, force: true }));

interface Summary {
  steps: number;
  eval: { loss: number };
  checkpoint: string;
  peak_bytes: { parameter: number };
}

function turbine(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: "utf8", timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function summaryOf(args: string[]): Summary {
  const r = turbine(args);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Summary;
}

const launch2 = ["launch", "-n", "2", "--threads-per-worker", "1", "--"];
const json = ["--no-progress", "--json"];
/** The tiny gpt-char with dropout on (sequence-parallel dropout must draw one process's masks). */
const tiny = [...TINY_GPT_CHAR, "--set", "model.dropout=0.1", ...json];

test("turbine launch -n 2 -- train examples/gpt-char.json --set parallel.tensor=2 reports the single-process run's evaluation loss, holds part of the parameters, and its checkpoint resumes at t = 1 and t = 2", {
  timeout: 300_000,
}, () => {
  const single = summaryOf(["train", gptChar, ...tiny]);
  for (const sequenceParallel of [false, true]) {
    const split = summaryOf([...launch2, "train", gptChar, "--set", "parallel.tensor=2", "--set", `parallel.sequenceParallel=${sequenceParallel}`, ...tiny]);
    assert.equal(split.steps, 3);
    assert.ok(
      Math.abs(split.eval.loss - single.eval.loss) <= 1e-5 * single.eval.loss,
      `sequence parallel ${sequenceParallel}: ${split.eval.loss} vs ${single.eval.loss}`,
    );
    assert.ok(
      split.peak_bytes.parameter < 0.85 * single.peak_bytes.parameter,
      `parameters per rank ${split.peak_bytes.parameter} vs ${single.peak_bytes.parameter}`,
    );
    // The gathered checkpoint is the full model: one process evaluates it to the same loss.
    const resumed = summaryOf(["train", "--resume", split.checkpoint, "--set", "parallel.tensor=1", "--set", "parallel.sequenceParallel=false", ...json]);
    assert.ok(Math.abs(resumed.eval.loss - split.eval.loss) <= 1e-5 * split.eval.loss, `resumed at t = 1: ${resumed.eval.loss} vs ${split.eval.loss}`);
  }
  // And a one-process checkpoint is cut for two tensor-parallel ranks.
  const cut = summaryOf([...launch2, "train", "--resume", single.checkpoint, "--set", "parallel.tensor=2", ...json]);
  assert.ok(Math.abs(cut.eval.loss - single.eval.loss) <= 1e-5 * single.eval.loss, `resumed at t = 2: ${cut.eval.loss} vs ${single.eval.loss}`);
});

test("parallel.tensor that does not split the heads, or sequence parallelism over tokens it does not divide, is a config error (exit 2) naming the numbers, without a stack trace", {
  timeout: 120_000,
}, () => {
  const sequence = ["parallel.tensor=2", "parallel.sequenceParallel=true", "data.batchSize=3", "model.context=15"].flatMap((s) => ["--set", s]);
  for (const [args, message] of [
    [
      ["launch", "-n", "3", "--threads-per-worker", "1", "--", "train", gptChar, "--set", "parallel.tensor=3", ...tiny],
      /4 heads do not split across 3 tensor-parallel ranks/,
    ],
    [
      [...launch2, "train", gptChar, ...tiny, ...sequence],
      /splits data.batchSize 3 × 15 tokens \(model.context\) over parallel.tensor 2, which does not divide them/,
    ],
  ] as const) {
    const r = turbine([...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});
