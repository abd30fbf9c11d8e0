import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { repoRoot } from "../helpers/paths.js";

const readme = readFileSync(join(repoRoot(), "README.md"), "utf8");
const work = mkdtempSync(join(tmpdir(), "turbine-walkthrough-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** The README's first session: the sh block after "A first session", one command per line. */
function sessionLines(): string[] {
  const block = readme.split("A first session")[1]!.split("```sh\n")[1]!.split("```")[0]!;
  return block.split("\n").filter((line) => line.trim() !== "");
}

/**
 * A line made cheap: every run trains 3 steps (a later --set wins), and a gpt validates on 2
 * batches; nothing else of the line changes.
 */
function cheap(line: string): string {
  if (!/\btrain\b/.test(line) || line.includes("--list")) return line;
  return `${line} --set train.steps=3${line.includes("gpt") ? " --set data.valBatches=2" : ""}`;
}

test("the README's first session runs as written from an empty folder (fewer steps), leaving each output", { timeout: 900_000 }, () => {
  // `turbine` on the PATH runs this checkout's CLI, as `npm link` would.
  const bin = join(work, "bin");
  mkdirSync(bin);
  writeFileSync(
    join(bin, "turbine"),
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(repoRoot(), "dist", "src", "cli", "main.js"))} "$@"\n`,
  );
  chmodSync(join(bin, "turbine"), 0o755);
  const folder = join(work, "session");
  mkdirSync(folder);
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, TURBINE_CACHE: join(work, "cache") };
  const outputs: string[] = [];
  const warnings: string[] = [];
  const lines = sessionLines();
  assert.ok(lines.length >= 6, `the session has its commands (${lines.length})`);
  for (const line of lines) {
    const r = spawnSync("sh", ["-c", cheap(line)], { cwd: folder, env, encoding: "utf8", timeout: 600_000 });
    assert.equal(r.status, 0, `${line}\n${r.stderr}`);
    outputs.push(r.stdout);
    warnings.push(r.stderr);
  }
  assert.match(outputs[0]!, /^gpt-char +gpt on text, 1500 steps/m, "--list names the built-in configs");
  const sample = outputs[lines.findIndex((l) => l.includes("turbine sample"))]!;
  assert.ok(sample.startsWith("And God said"), `the sample continues the prompt: ${JSON.stringify(sample.slice(0, 40))}`);
  const gptRun = lines.findIndex((l) => l.includes("train gpt-char"));
  assert.match(warnings[gptRun]!, /warning: schedule\.warmup 100 is not shorter than the run's 3 steps/, "a 3-step run of a 100-step warm-up is warned about");
  for (const path of [
    "runs/gpt-char/version_0/checkpoints/step-00000003",
    "runs/mlp/version_0/checkpoints/step-00000003",
    "runs/mlp/version_1/metrics.jsonl",
    "genesis.tokens",
    "runs/gpt-char/version_1/checkpoints/step-00000003",
  ]) {
    assert.ok(existsSync(join(folder, path)), `${path} was written`);
  }
});
