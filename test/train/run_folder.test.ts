import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { tensor } from "../../src/tensor/create.js";
import { MetricsFile } from "../../src/train/callbacks.js";
import { assertSameModel, checkpointName, listCheckpoints, loadCheckpoint, removeInterruptedWrites, saveCheckpoint } from "../../src/train/checkpoint.js";
import { parseConfig } from "../../src/train/config_file.js";
import { configDifferences, resumeConfig } from "../../src/train/resume_config.js";
import { runTraining } from "../../src/train/run.js";
import { newRunFolder, resumeTarget, runVersions } from "../../src/train/run_folder.js";
import { tensorsState } from "../helpers/checkpoint_state.js";
import { missingFashionMnist, skipIfMissing } from "../helpers/prerequisites.js";

const work = mkdtempSync(join(tmpdir(), "turbine-runs-"));
after(() => rmSync(work, { recursive: true, force: true }));
const skip = skipIfMissing(missingFashionMnist());

test("each new run gets the next free version_N folder of its name", () => {
  const parent = join(work, "versions", "cnn");
  assert.equal(newRunFolder(parent), join(parent, "version_0"));
  assert.equal(newRunFolder(parent), join(parent, "version_1"));
  mkdirSync(join(parent, "version_7"));
  mkdirSync(join(parent, "version_x"));
  assert.equal(newRunFolder(parent), join(parent, "version_8"), "after the highest, never into a gap");
  assert.deepEqual(runVersions(parent), [0, 1, 7, 8]);
});

test("--resume takes a run folder, its checkpoints/ folder or one checkpoint; anything else is named", () => {
  const run = join(work, "resume-target", "mlp", "version_2");
  mkdirSync(join(run, "checkpoints"), { recursive: true });
  writeFileSync(join(run, "config.json"), "{}");
  const step = join(run, "checkpoints", checkpointName(4));
  saveCheckpoint(step, { state: tensorsState({ w: tensor([1, 2]) }), meta: { step: 4, epoch: 0 } });
  assert.deepEqual(resumeTarget(run), { runDir: run, checkpoint: join(run, "checkpoints") });
  assert.deepEqual(resumeTarget(join(run, "checkpoints")), { runDir: run, checkpoint: join(run, "checkpoints") });
  assert.deepEqual(resumeTarget(step), { runDir: run, checkpoint: step });
  mkdirSync(join(work, "resume-target", "mlp", "version_0"));
  assert.throws(
    () => resumeTarget(join(work, "resume-target", "mlp")),
    /mlp: this folder holds the runs version_0, version_2; resume one of them, e.g. --resume .*mlp\/version_2$/,
  );
  assert.throws(() => resumeTarget(join(work, "nowhere")), /nowhere: not a run folder \(no config\.json\)/);
  const loose = join(work, "loose", checkpointName(1));
  saveCheckpoint(loose, { state: tensorsState({ w: tensor([1, 2]) }), meta: { step: 1, epoch: 0 } });
  assert.throws(() => resumeTarget(loose), /this checkpoint is not inside a run folder/);
});

test("a resumed run may change cadences and logging, and names every other change it refuses", () => {
  const run = join(work, "resume-config");
  mkdirSync(run);
  const saved = parseConfig({ model: { kind: "mlp", hidden: [16] }, data: { kind: "fashion-mnist" }, train: { steps: 100 } }, "test");
  writeFileSync(join(run, "config.json"), JSON.stringify(saved));
  assert.deepEqual(resumeConfig(run, []), saved);
  const changed = resumeConfig(run, [
    "train.evalEvery=10",
    "checkpoint.every=5",
    "train.threads=1",
    "logging.tensorboard=true",
    "train.steps=100",
    "model.hidden=[16]",
  ]);
  assert.equal(changed.train.evalEvery, 10);
  assert.equal(changed.checkpoint.every, 5);
  assert.deepEqual(configDifferences(saved, changed).sort(), ["checkpoint.every", "logging.tensorboard", "train.evalEvery", "train.threads"]);
  assert.throws(
    () => resumeConfig(run, ["train.steps=200", "model.hidden=[32]", "train.logEvery=7", "name=other"]),
    /refuses changes to model\.hidden \(\[16\] → \[32\]\), train\.steps \(100 → 200\), name \(unset → "other"\); safe to change on resume: train\.evalEvery/,
  );
  // Checkpoints of any mesh load into any other (test/parallel/mesh_checkpoint.test.ts).
  const relaid = resumeConfig(run, ["parallel.tensor=2", "parallel.pipeline=2", "parallel.microBatches=4", "parallel.schedule=gpipe", "parallel.expert=2"]);
  assert.deepEqual(configDifferences(saved, relaid).sort(), [
    "parallel.expert",
    "parallel.microBatches",
    "parallel.pipeline",
    "parallel.schedule",
    "parallel.tensor",
  ]);
  assert.throws(
    () => resumeConfig(run, ["optimizer.lr=0.5"]),
    (e: Error) => /optimizer\.lr \(0\.001 → 0\.5\)/.test(e.message) && !e.message.includes("train.logEvery ("),
  );
});

test("metrics of a resumed run keep the records up to its checkpoint's step, a torn last line dropped", () => {
  const path = join(work, "metrics", "metrics.jsonl");
  const metrics = new MetricsFile(path, 1);
  const step = (n: number) => ({ step: n, epoch: 0, loss: 1 / n, lr: 0.1, gradNorm: null, throughput: 1, dataWait: 0, trainSeconds: n });
  for (let n = 1; n <= 5; n++) metrics.onStepEnd(step(n));
  metrics.onEvalEnd({ step: 3, epoch: 0, loss: 0.5 });
  writeFileSync(path, `${readFileSync(path, "utf8")}{"type":"train","st`);
  metrics.truncateAfter(3);
  metrics.onStepEnd(step(4));
  const records = readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; step: number });
  assert.deepEqual(
    records.map((r) => `${r.type}${r.step}`),
    ["train1", "train2", "train3", "eval3", "train4"],
  );
});

test("temporary folders of interrupted checkpoint writes are removed, checkpoints kept", () => {
  const root = join(work, "interrupted");
  saveCheckpoint(join(root, checkpointName(2)), { state: tensorsState({ w: tensor([1]) }), meta: { step: 2, epoch: 0 } });
  mkdirSync(join(root, `.${checkpointName(4)}.tmp-123-abcd1234`));
  mkdirSync(join(root, `.${checkpointName(2)}.tmp-9-00ff00ff.old`));
  removeInterruptedWrites(root);
  assert.deepEqual(readdirSync(root), [checkpointName(2)]);
});

test("a checkpoint of another model is refused naming the first differing tensor with both shapes", () => {
  const dir = join(work, "other-model", checkpointName(1));
  saveCheckpoint(dir, { state: tensorsState({ "0.weight": tensor([[1, 2, 3]]), "0.bias": tensor([1]) }), meta: { step: 1, epoch: 0 } });
  const checkpoint = loadCheckpoint(dir);
  assertSameModel(checkpoint, { "0.weight": tensor([[0, 0, 0]]), "0.bias": tensor([0]) });
  assert.throws(
    () =>
      assertSameModel(checkpoint, {
        "0.weight": tensor([
          [0, 0],
          [0, 0],
        ]),
        "0.bias": tensor([0]),
      }),
    /holds a different model: tensor '0\.weight' is float32 \[1, 3\] there, float32 \[2, 2\] in this run's model/,
  );
  assert.throws(() => assertSameModel(checkpoint, { "1.weight": tensor([0]) }), /it has no tensor '1\.weight' \(float32 \[1\] in this run's model\)/);
  assert.throws(() => assertSameModel(checkpoint, { "0.weight": tensor([[0, 0, 0]]) }), /its tensor '0\.bias' is not in this run's model/);
  checkpoint.close();
});

test("a checkpoint of another model config is refused naming the first differing config field with both values", () => {
  const dir = join(work, "other-config", checkpointName(1));
  const config = { model: { kind: "gpt", layers: 2, width: 32 } };
  saveCheckpoint(dir, { state: tensorsState({ w: tensor([1]) }), meta: { step: 1, epoch: 0, config } });
  const checkpoint = loadCheckpoint(dir);
  assertSameModel(checkpoint, { w: tensor([0]) }, { model: { kind: "gpt", layers: 2, width: 32 }, train: { steps: 5 } });
  assert.throws(
    () => assertSameModel(checkpoint, { w: tensor([0]) }, { model: { kind: "gpt", layers: 2, width: 64 } }),
    /holds a different model: model\.width is 32 there, 64 in this run's config/,
  );
  checkpoint.close();
});

function smallRun(outDir: string, keep: number) {
  return parseConfig(
    {
      outDir,
      model: { kind: "mlp", hidden: [8] },
      data: { kind: "fashion-mnist", batchSize: 32, evalBatchSize: 5000 },
      train: { steps: 4, threads: 1, logEvery: 1 },
      checkpoint: { every: 1, keep },
    },
    "test",
  );
}

test("two runs of one name never touch each other's files; a resumed run writes each step's metrics once", { skip, timeout: 300_000 }, () => {
  const quiet = { log: () => {} };
  const outDir = join(work, "two-runs");
  const first = runTraining(smallRun(outDir, 3), quiet);
  const second = runTraining(smallRun(outDir, 1), quiet);
  assert.equal(first.run_dir, join(outDir, "mlp", "version_0"));
  assert.equal(second.run_dir, join(outDir, "mlp", "version_1"));
  const steps = (dir: string) => listCheckpoints(join(dir, "checkpoints")).map((d) => d.slice(-8));
  assert.deepEqual(steps(first.run_dir), ["00000004", "00000003", "00000002"], "the second run's keep: 1 pruned only its own");
  assert.deepEqual(steps(second.run_dir), ["00000004"]);
  const records = (dir: string) =>
    readFileSync(join(dir, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; step: number });
  assert.deepEqual(
    records(first.run_dir)
      .filter((r) => r.type === "train")
      .map((r) => r.step),
    [1, 2, 3, 4],
    "one run's metrics only",
  );

  rmSync(join(first.run_dir, "checkpoints", checkpointName(4)), { recursive: true });
  rmSync(join(first.run_dir, "checkpoints", checkpointName(3)), { recursive: true });
  const torn = join(first.run_dir, "checkpoints", `.${checkpointName(3)}.tmp-4242-0badf00d`);
  mkdirSync(torn); // what a write cut short by a crash leaves
  const resumed = runTraining(smallRun(outDir, 3), { ...quiet, resume: first.run_dir });
  assert.equal(resumed.run_dir, first.run_dir);
  assert.ok(!existsSync(torn), "the torn write's temporary folder is removed");
  assert.deepEqual(
    records(first.run_dir).map((r) => `${r.type}${r.step}`),
    ["train1", "train2", "train3", "train4", "eval4"],
  );
  assert.deepEqual(runVersions(join(outDir, "mlp")), [0, 1], "resuming made no new version");
});
