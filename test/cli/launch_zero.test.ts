import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { repoRoot } from "../helpers/paths.js";
import { TINY_GPT_CHAR } from "../helpers/tiny_gpt.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const gptChar = join(repoRoot(), "examples", "gpt-char.json");
const work = mkdtempSync(join(tmpdir(), "turbine-zero-"));
after(() => rmSync(work, { recursive: true, force: true }));

function turbine(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: "utf8", timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `turbine launch -n N --threads-per-worker 1 -- train ARGS`. */
const launchTrain = (ranks: number, args: string[]) => turbine(["launch", "-n", String(ranks), "--threads-per-worker", "1", "--", "train", ...args]);

const tiny = [...TINY_GPT_CHAR, "--no-progress", "--json"];

for (const stage of [1, 2, 3]) {
  test(`turbine launch -n 2 -- train examples/gpt-char.json --set parallel.zero=${stage} trains end to end`, { timeout: 120_000 }, () => {
    const r = launchTrain(2, [gptChar, "--set", `parallel.zero=${stage}`, ...tiny]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { steps: number; eval: { loss: number }; checkpoint: string };
    assert.equal(summary.steps, 3);
    assert.match(r.stdout, /^\[rank 0\] trained 3 steps/m);
    assert.ok(Number.isFinite(summary.eval.loss), `evaluation loss ${summary.eval.loss}`);
    // Each rank writes its slices of the optimizer state.
    for (const rank of [0, 1]) assert.ok(existsSync(join(work, summary.checkpoint, `optimizer-rank0000${rank}.safetensors`)), `rank ${rank}'s shard`);
  });
}

test("a run checkpointed at ZeRO-3 on 2 ranks resumes at ZeRO-1 on 3 ranks (turbine launch -n 3 -- train --resume DIR --set parallel.zero=1)", {
  timeout: 180_000,
}, () => {
  const first = launchTrain(2, [
    gptChar,
    "--set",
    "parallel.zero=3",
    "--set",
    "outDir=reshard",
    ...tiny,
    "--set",
    "checkpoint.every=2",
    "--set",
    "train.steps=4",
  ]);
  assert.equal(first.code, 0, first.stderr);
  const run = join(work, "reshard", "gpt-char", "version_0");
  rmSync(join(run, "checkpoints", "step-00000004"), { recursive: true });
  const resumed = launchTrain(3, ["--resume", run, "--set", "parallel.zero=1", "--no-progress", "--json"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout + resumed.stderr, /resumed from .*step-00000002 at step 2/);
  assert.equal((JSON.parse(resumed.stdout.trim().split("\n").at(-1)!) as { steps: number }).steps, 4);
});

test("a parallel.zero that is not a stage is a config error (exit 2) naming the value and the stages", () => {
  const r = turbine(["train", gptChar, "--set", "parallel.zero=5"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /parallel\.zero: got 5; expected one of 0, 1, 2, 3/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
});

test("optimizer.kind muon and lamb train through turbine launch -n 2 at parallel.zero 1 and 2 with DDP's evaluation loss", { timeout: 240_000 }, () => {
  const loss = (optimizer: string, zero: number): number => {
    const r = launchTrain(2, [
      gptChar,
      "--set",
      `optimizer.kind=${optimizer}`,
      "--set",
      `parallel.zero=${zero}`,
      "--set",
      `outDir=${optimizer}-${zero}`,
      ...tiny,
    ]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { eval: { loss: number } }).eval.loss;
  };
  for (const [optimizer, zero] of [
    ["muon", 1],
    ["lamb", 2],
  ] as const) {
    const ddp = loss(optimizer, 0),
      sharded = loss(optimizer, zero);
    // Muon orthogonalising each rank's slice alone moves it by 6e-5 of the loss after 3 steps.
    assert.ok(Math.abs(sharded - ddp) <= 1e-5 * ddp, `${optimizer} zero ${zero}: evaluation loss ${sharded}, DDP's ${ddp}`);
  }
});
