import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { parseConfig, readConfigFile } from "../../src/train/config_file.js";
import { repoRoot } from "../helpers/paths.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-tune-cli-"));
after(() => rmSync(work, { recursive: true, force: true }));

function turbine(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd: work,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, TURBINE_CACHE: join(work, "cache") },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// A tiny gpt on a small text: every trial is a few milliseconds of steps.
writeFileSync(join(work, "text.txt"), "In the beginning God created the heaven and the earth. ".repeat(200));
const config = join(work, "tiny.json");
writeFileSync(
  config,
  JSON.stringify({
    name: "tiny",
    model: { kind: "gpt", layers: 1, heads: 2, width: 16, context: 16 },
    data: { kind: "text", path: join(work, "text.txt"), batchSize: 4, valBatches: 1 },
    train: { steps: 100 },
  }),
);

test("turbine tune measures, prints the table and writes a config that parses, with what it kept", { timeout: 180_000 }, () => {
  // Catches a table without its levers, or a written file that is not the tuned config.
  const r = turbine(["tune", config, "--steps", "2", "--warmup", "1", "--out", "tuned.yaml"]);
  assert.equal(r.code, 0, r.stderr);
  for (const lever of [
    "baseline",
    "precision",
    "compiled step",
    "loader workers",
    "batch size",
    "activation checkpointing",
    "gradient compression",
    "parallel layout",
  ])
    assert.match(r.stdout, new RegExp(`^${lever} `, "m"), lever);
  assert.match(r.stdout, /tuned: [\d.]+× the baseline's speed/);
  const tuned = parseConfig(readConfigFile(join(work, "tuned.yaml")), "tuned.yaml");
  const kept = r.stdout.split("\n").filter((l) => / yes$/.test(l));
  assert.equal(
    tuned.train.precision === "bfloat16",
    kept.some((l) => l.startsWith("precision")),
    "precision as kept",
  );
  assert.equal(
    tuned.model.kind === "gpt" && tuned.model.checkpoint,
    kept.some((l) => l.startsWith("activation checkpointing")),
    "checkpointing as kept",
  );
});

test("turbine tune refuses bad input with exit 2 and one line, before any trial", () => {
  // Catches a bad --out found only after minutes of trials, or a stack trace.
  const cases: [string[], RegExp][] = [
    [["tune", config, "--steps", "0"], /--steps.*expected an integer ≥ 1/],
    [["tune", config, "--out", "tuned.txt"], /--out tuned\.txt: the extension must be one of \.json, \.yaml, \.yml/],
    [["tune", config, "--out", join(work, "missing", "t.json")], /the folder .*missing does not exist/],
    [["tune", join(work, "nope.json")], /nope\.json/],
    [["tune", config, "--ranks", "x"], /--ranks.*expected an integer ≥ 1/],
  ];
  for (const [args, message] of cases) {
    const r = turbine(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
  assert.equal(existsSync(join(work, "tuned.txt")), false);
});
