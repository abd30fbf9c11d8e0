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

const tiny = [...TINY_GPT_CHAR, "--no-progress", "--json"];

for (const stage of [1, 2, 3]) {
  test(`turbine launch -n 2 -- train examples/gpt-char.json --set parallel.zero=${stage} trains end to end`, { timeout: 120_000 }, () => {
    const r = turbine(["launch", "-n", "2", "--threads-per-worker", "1", "--", "train", gptChar, "--set", `parallel.zero=${stage}`, ...tiny]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { steps: number; eval: { loss: number }; checkpoint: string };
    assert.equal(summary.steps, 3);
    assert.match(r.stdout, /^\[rank 0\] trained 3 steps/m);
    assert.ok(Number.isFinite(summary.eval.loss), `evaluation loss ${summary.eval.loss}`);
    // Each rank writes its slices of the optimizer state.
    for (const rank of [0, 1]) assert.ok(existsSync(join(work, summary.checkpoint, `optimizer-rank0000${rank}.safetensors`)), `rank ${rank}'s shard`);
  });
}

test("a parallel.zero that is not a stage is a config error (exit 2) naming the value and the stages", () => {
  const r = turbine(["train", gptChar, "--set", "parallel.zero=5"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /parallel\.zero: got 5; expected one of 0, 1, 2, 3/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
});
