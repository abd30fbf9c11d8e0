import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";

import { checkpointName } from "../../src/train/checkpoint.js";
import { repoRoot } from "../helpers/paths.js";

const cli = join(repoRoot(), "dist", "src", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "turbine-cli-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** A small, fast run: a tiny mlp for a few steps. */
const SMALL = ["--set", "model.kind=mlp", "--set", "model.hidden=[16]", "--set", "train.steps=6", "--set", "data.evalBatchSize=5000", "--no-progress"];

function turbine(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("a bad config exits 2 naming each bad field, its value and what is allowed", () => {
  const file = join(work, "bad.yaml");
  writeFileSync(file, "model:\n  kind: cnn\n  chanels: [8]\ndata:\n  kind: fashion-mnist\n  batchSize: 0\noptimizer:\n  kind: adagrad\n");
  const r = turbine(["train", file]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /model\.chanels: unknown field; allowed here: kind, channels, hidden, init/);
  assert.match(r.stderr, /data\.batchSize: got 0; expected a number ≥ 1/);
  assert.match(r.stderr, /optimizer\.kind: got "adagrad"; expected one of "sgd", "adam", "adamw", "lamb", "lion", "muon"/);
  const s = turbine(["train", "--set", "train.epochs=-1"]);
  assert.equal(s.code, 2);
  assert.match(s.stderr, /train\.epochs: got -1/);
  const missing = turbine(["train", join(work, "nope.json")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /config .*nope\.json: cannot read it \(ENOENT\)/);
});

test("missing or corrupt data exits 1 naming the file and, when missing, the package", () => {
  const empty = join(work, "no-data");
  mkdirSync(empty);
  const r = turbine(["train", ...SMALL, "--set", `data.root=${empty}`]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /train-images-idx3-ubyte\.gz.*apt-get install dataset-fashion-mnist/s);
  const corrupt = join(work, "corrupt-data");
  mkdirSync(corrupt);
  for (const f of ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]) {
    cpSync(join("/usr/share/datasets/fashion-mnist", f), join(corrupt, f));
  }
  writeFileSync(join(corrupt, "train-images-idx3-ubyte.gz"), gzipSync(Buffer.from([0, 0, 8, 3, 0, 0, 0, 1])));
  const c = turbine(["train", ...SMALL, "--set", `data.root=${corrupt}`]);
  assert.equal(c.code, 1, c.stderr);
  assert.match(c.stderr, /train-images-idx3-ubyte\.gz/);
});

test("a non-finite loss stops the run with exit 1 and says what to try", () => {
  const r = turbine([
    "train",
    ...SMALL,
    "--set",
    "optimizer.kind=sgd",
    "--set",
    "optimizer.lr=1e30",
    "--set",
    "train.steps=30",
    "--set",
    `outDir=${join(work, "nan")}`,
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /loss is (NaN|Infinity|-Infinity) at step \d+ \(epoch 1\): lower the learning rate/);
});

test("--json ends with the run summary; resuming gives the weights of an uninterrupted run, also past a corrupt checkpoint", () => {
  const full = join(work, "full");
  const r = turbine(["train", ...SMALL, "--set", "checkpoint.every=3", "--set", `outDir=${full}`, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  // model_state_bytes joined the summary with parallel.offload, comm_bytes with parallel.compression,
  // compile with train.compile (the behaviour changes this list follows); one process sends
  // nothing, so comm_bytes is null, and an eager run compiles nothing, so compile is null.
  assert.deepEqual(Object.keys(summary), [
    "steps",
    "epochs",
    "train_s",
    "samples_per_s",
    "eval",
    "checkpoint",
    "data_wait_s",
    "peak_bytes",
    "model_state_bytes",
    "comm_bytes",
    "compile",
  ]);
  assert.equal(summary.comm_bytes, null);
  assert.equal(summary.compile, null);
  assert.deepEqual(summary.model_state_bytes, {
    parameters: 12_730 * 4,
    gradients: 12_730 * 4,
    optimizer: 2 * 12_730 * 4,
    offloaded: 0,
    resident: 16 * 12_730,
  });
  assert.equal(summary.steps, 6);
  // The mlp 784-16-10 has 12,730 float32 parameters; AdamW keeps two moments of each.
  const peak = summary.peak_bytes;
  assert.deepEqual(Object.keys(peak), ["parameter", "gradient", "optimizer", "activation", "other", "total"]);
  assert.equal(peak.parameter, 12_730 * 4);
  assert.equal(peak.gradient, 12_730 * 4);
  assert.equal(peak.optimizer, 2 * 12_730 * 4);
  assert.ok(peak.activation >= 5000 * 784 * 4, "an evaluation batch of 5000 images is held at once");
  const sum = peak.parameter + peak.gradient + peak.optimizer + peak.activation + peak.other;
  assert.ok(peak.total >= peak.activation + peak.parameter && peak.total <= sum, `total ${peak.total} of ${sum}`);
  assert.match(
    r.stdout,
    /peak memory: parameters 49\.7 KiB, gradients 49\.7 KiB, optimizer state 99\.5 KiB, activations [\d.]+ MiB, other [\d.]+ \w+; [\d.]+ MiB at once/,
  );
  assert.ok(summary.eval.accuracy > 0.15 && summary.eval.accuracy <= 1, `accuracy ${summary.eval.accuracy} after 6 steps (chance: 0.1)`);
  assert.match(summary.checkpoint, /step-00000006$/);
  const ckpts = join(full, "mlp", "version_0", "checkpoints");
  const finalWeights = readFileSync(join(ckpts, checkpointName(6), "model-rank00000.safetensors"));

  for (const corruptLatest of [false, true]) {
    const other = join(work, corruptLatest ? "resumed-corrupt" : "resumed");
    cpSync(full, other, { recursive: true });
    const theirs = join(other, "mlp", "version_0", "checkpoints");
    const latest = join(theirs, checkpointName(6), "model-rank00000.safetensors");
    if (corruptLatest) {
      const bytes = readFileSync(latest);
      bytes[bytes.length - 2]! ^= 0x40;
      writeFileSync(latest, bytes);
    } else {
      rmSync(join(theirs, checkpointName(6)), { recursive: true });
    }
    // The run's saved config (steps, model, cadence) is continued without repeating it.
    const resumed = turbine(["train", "--no-progress", "--resume", theirs]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resumed from .*step-00000003 at step 3/);
    if (corruptLatest) assert.match(resumed.stderr, /step-00000006: model-rank00000\.safetensors fails its checksum.*trying the previous/);
    assert.ok(readFileSync(latest).equals(finalWeights), "bitwise the weights of the uninterrupted run");
  }
});

test("--resume refuses unsafe changes, a config file, and a checkpoint of another model (one line each, no stack trace)", () => {
  const out = join(work, "refusals");
  for (const hidden of ["[16]", "[8]"]) {
    const r = turbine(["train", ...SMALL, "--set", "train.steps=2", "--set", `model.hidden=${hidden}`, "--set", `outDir=${out}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  const run = join(out, "mlp", "version_1");
  const unsafe = turbine(["train", "--resume", run, "--set", "train.steps=50", "--set", "train.evalEvery=1"]);
  assert.equal(unsafe.code, 2, unsafe.stderr);
  assert.match(
    unsafe.stderr,
    /^turbine: --resume continues the run's saved config \(.*version_1\/config\.json\) and refuses changes to train\.steps \(2 → 50\); safe to change on resume: .*train\.evalEvery/,
  );
  const withFile = turbine(["train", join(work, "bad.yaml"), "--resume", run]);
  assert.equal(withFile.code, 2);
  assert.match(withFile.stderr, /--resume continues the run's saved config: drop the config file .*bad\.yaml/);
  const ambiguous = turbine(["train", "--resume", join(out, "mlp")]);
  assert.equal(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /holds the runs version_0, version_1; resume one of them/);

  // A checkpoint of the 16-wide run put into the 8-wide run's folder.
  const foreign = join(run, "checkpoints", checkpointName(5));
  cpSync(join(out, "mlp", "version_0", "checkpoints", checkpointName(2)), foreign, { recursive: true });
  const r = turbine(["train", "--no-progress", "--resume", foreign]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^turbine: checkpoint .*step-00000005 holds a different model: model\.hidden is \[16\] there, \[8\] in this run's config\n$/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
});
