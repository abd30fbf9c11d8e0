import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { loadTrainedModel } from "../../src/train/trained_model.js";
import { repoRoot } from "../helpers/paths.js";
import { missingFashionMnist, skipIfMissing } from "../helpers/prerequisites.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-prune-cli-"));
after(() => rmSync(work, { recursive: true, force: true }));

function turbine(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const SMALL_CNN = ["--set", "model.channels=[4,8]", "--set", "model.hidden=16", "--set", "train.steps=3", "--set", "data.evalBatchSize=5000", "--no-progress"];

test("turbine prune rebuilds a trained cnn with half its channels; train --resume fine-tunes it and it loads for evaluation", {
  skip: skipIfMissing(missingFashionMnist()),
}, () => {
  const trained = turbine(["train", "cnn", ...SMALL_CNN, "--set", `outDir=${work}`, "--set", "name=full"]);
  assert.equal(trained.code, 0, trained.stderr);
  const out = join(work, "half");
  const r = turbine(["prune", join(work, "full", "version_0"), "--structured", "0.5", "--targets", "conv", "--out", out, "--steps", "2"]);
  assert.equal(r.code, 0, r.stderr);
  // conv 1→4 + 4→8 + fc 8·5·5→16 + fc 16→10 against 1→2 + 2→4 + fc 4·5·5→16 + 16→10.
  const before = 4 * 9 + 4 + 8 * 4 * 9 + 8 + 16 * 200 + 16 + 170,
    after_ = 2 * 9 + 2 + 4 * 2 * 9 + 4 + 16 * 100 + 16 + 170;
  assert.match(r.stdout, new RegExp(`cnn: ${before.toLocaleString("en-US")} → ${after_.toLocaleString("en-US")} parameters`));
  const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
  assert.deepEqual(config.model.channels, [2, 4]);
  assert.equal(config.train.steps, 2);
  assert.equal(loadTrainedModel(out, () => {}).model.parameterCount(), after_);
  const tuned = turbine(["train", "--resume", out, "--no-progress", "--json"]);
  assert.equal(tuned.code, 0, tuned.stderr);
  assert.equal(JSON.parse(tuned.stdout.trim().split("\n").at(-1)!).steps, 2);
  // Into a folder that is not empty: refused.
  const again = turbine(["prune", join(work, "full", "version_0"), "--structured", "0.5", "--out", out]);
  assert.equal(again.code, 2, again.stderr);
  assert.match(again.stderr, /the output folder .* is not empty/);
  const heads = turbine(["prune", join(work, "full", "version_0"), "--structured", "0.5", "--targets", "heads", "--out", join(work, "h")]);
  assert.equal(heads.code, 2, heads.stderr);
  assert.match(heads.stderr, /--targets heads removes nothing from a cnn \(it has conv, linear\)/);
});

test("turbine prune's usage errors exit 2 with one line: bad fraction, unknown target, missing checkpoint, unknown prune.kind", () => {
  const some = join(work, "some");
  mkdirSync(some, { recursive: true });
  for (const [args, message] of [
    [["prune", some, "--structured", "1.5", "--out", join(work, "o1")], /--structured 1\.5 must be a fraction above 0 and below 1/],
    [["prune", some, "--structured", "abc", "--out", join(work, "o1")], /--structured abc must be a fraction/],
    [
      ["prune", some, "--structured", "0.5", "--targets", "filters", "--out", join(work, "o1")],
      /--targets "filters" is not a kind of structure; allowed: conv, linear, heads/,
    ],
    [["prune", join(work, "nope"), "--structured", "0.5", "--out", join(work, "o1")], /nope does not exist/],
    [["prune", some, "--out", join(work, "o1")], /required option '--structured <fraction>'/],
  ] as const) {
    const r = turbine([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  const file = join(work, "bad-prune.json");
  writeFileSync(file, JSON.stringify({ model: { kind: "mlp" }, data: { kind: "fashion-mnist" }, prune: { kind: "random", schedule: { end: 10 } } }));
  const r = turbine(["train", file]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /prune\.kind/);
});

test("turbine launch -n 2 -- train cnn with prune.kind structured cuts the model on rank 0 and fine-tunes it on both ranks", {
  skip: skipIfMissing(missingFashionMnist()),
  timeout: 180_000,
}, () => {
  const r = turbine([
    "launch",
    "-n",
    "2",
    "--threads-per-worker",
    "1",
    "--",
    "train",
    "cnn",
    ...SMALL_CNN,
    "--set",
    "train.steps=4",
    "--set",
    `outDir=${work}`,
    "--set",
    "name=ddp-cut",
    "--set",
    "prune.kind=structured",
    "--set",
    "prune.schedule.end=2",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /structured cut at step 2: 3,722 → 994 parameters/);
  assert.match(r.stdout, /^\[rank 0\] trained 4 steps .* per rank\)$/m);
  const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { steps: number; eval: { loss: number } };
  assert.equal(summary.steps, 4);
  assert.ok(Number.isFinite(summary.eval.loss));
  // Conv channels and hidden neurons both halved (every structure the cnn has, by default):
  // 40 + 296 + 3,216 + 170 parameters before, 20 + 76 + 808 + 90 after.
  const trained = loadTrainedModel(join(work, "ddp-cut", "version_0"), () => {});
  assert.deepEqual(trained.config.model.kind === "cnn" && [trained.config.model.channels, trained.config.model.hidden], [[2, 4], 8]);
  assert.equal(trained.step, 4);
});
