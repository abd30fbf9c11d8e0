import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { pruneStructured, structuredModel } from "../../src/prune/structured.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { checkpointName } from "../../src/train/checkpoint.js";
import type { Config } from "../../src/train/config.js";
import { ConfigError, parseConfig } from "../../src/train/config_file.js";
import { runTraining } from "../../src/train/run.js";
import { writeRunConfig } from "../../src/train/run_folder.js";
import { loadTrainedModel } from "../../src/train/trained_model.js";
import { missingFashionMnist, skipIfMissing } from "../helpers/prerequisites.js";

const work = mkdtempSync(join(tmpdir(), "turbine-structured-run-"));
after(() => rmSync(work, { recursive: true, force: true }));
const skip = skipIfMissing(missingFashionMnist());
const quiet = { log: () => {} };

/** A small cnn cut to half its conv channels at step 3 of 6. */
function cnnRun(name: string, prune: Record<string, unknown> | null = { kind: "structured", sparsity: 0.5, targets: ["conv"], schedule: { end: 3 } }): Config {
  return parseConfig(
    {
      outDir: work,
      name,
      model: { kind: "cnn", channels: [4, 8], hidden: 16 },
      data: { kind: "fashion-mnist", batchSize: 16, evalBatchSize: 5000 },
      train: { steps: 6, threads: 1, logEvery: 1 },
      checkpoint: { every: 1, keep: 10, atEnd: false },
      ...(prune ? { prune } : {}),
    },
    "test",
  );
}

function values(state: Record<string, Tensor>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(state).map(([k, t]) => [k, Array.from(t.toHost() as Float32Array)]));
}

const trainSteps = (dir: string): number[] =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; step: number })
    .filter((r) => r.type === "train")
    .map((r) => r.step);

test("prune.kind structured trains the full cnn to the cut, rebuilds it as turbine prune does, and fine-tunes the smaller one", {
  skip,
  timeout: 300_000,
}, () => {
  const config = cnnRun("whole");
  const summary = runTraining(config, quiet);
  assert.equal(summary.steps, 6);
  const run = summary.run_dir;
  // config.json keeps the config as given; the checkpoints after the cut hold the smaller model.
  assert.deepEqual(JSON.parse(readFileSync(join(run, "config.json"), "utf8")).prune.kind, "structured");
  const final = loadTrainedModel(run, () => {});
  assert.deepEqual(final.config.model, { ...config.model, channels: [2, 4] });
  assert.equal(final.config.prune, undefined);
  // The cut's checkpoint is exactly pruneStructured of the full model at step 3, kept in unpruned/.
  const full = loadTrainedModel(join(run, "unpruned", checkpointName(3)), () => {});
  assert.equal(full.step, 3);
  assert.deepEqual(full.config.model.kind === "cnn" && full.config.model.channels, [4, 8]);
  const expected = pruneStructured(config.model, full.model.stateDict(), 0.5, ["conv"]);
  assert.deepEqual(expected.model, structuredModel(config.model, 0.5, ["conv"]));
  const cut = loadTrainedModel(join(run, "checkpoints", checkpointName(3)), () => {});
  assert.deepEqual(values(cut.model.stateDict()), values(expected.state));
  assert.deepEqual(trainSteps(run), [1, 2, 3, 4, 5, 6], "the loss curve continues through the cut");
  // The smaller model really trained after the cut.
  assert.notDeepEqual(values(final.model.stateDict()), values(cut.model.stateDict()));
});

test("a structured run resumed before the cut, at it, or after it ends with the uninterrupted run's weights", { skip, timeout: 600_000 }, () => {
  const reference = values(loadTrainedModel(runTraining(cnnRun("reference"), quiet).run_dir, () => {}).model.stateDict());
  for (const stop of [2, 5]) {
    const config = cnnRun(`stopped-at-${stop}`);
    const first = runTraining(config, { ...quiet, untilStep: stop });
    assert.equal(first.steps, stop);
    assert.equal(existsSync(join(first.run_dir, "unpruned")), stop > 3, `stopped at ${stop}`);
    const resumed = runTraining(config, { ...quiet, resume: first.run_dir });
    assert.equal(resumed.steps, 6);
    assert.deepEqual(values(loadTrainedModel(resumed.run_dir, () => {}).model.stateDict()), reference, `stopped at ${stop}`);
    assert.deepEqual(trainSteps(resumed.run_dir), [1, 2, 3, 4, 5, 6]);
  }
  // A crash between the cut's checkpoint and the cut: the full model's checkpoint at step 3.
  const config = cnnRun("crashed-at-cut");
  const unpruned = runTraining(cnnRun("crashed-at-cut", null), { ...quiet, untilStep: 3 });
  writeRunConfig(unpruned.run_dir, config);
  const resumed = runTraining(config, { ...quiet, resume: unpruned.run_dir });
  assert.equal(resumed.steps, 6);
  assert.deepEqual(values(loadTrainedModel(resumed.run_dir, () => {}).model.stateDict()), reference);
});

test("structured pruning's config errors name the field: no sparsity, no cut step, a cut at the end, targets the model lacks, sharded layouts", {
  skip,
  timeout: 120_000,
}, () => {
  const bad =
    (prune: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    () =>
      runTraining(parseConfig({ ...cnnRun("bad"), prune, ...extra }, "test"), quiet);
  assert.throws(() => parseConfig({ ...cnnRun("x"), prune: { kind: "structured", sparsity: 0, schedule: { end: 3 } } }, "t"), /needs a sparsity above 0/);
  assert.throws(() => parseConfig({ ...cnnRun("x"), prune: { kind: "structured", schedule: { end: 0 } } }, "t"), /schedule\.end.*at least 1/);
  assert.throws(
    () => parseConfig({ ...cnnRun("x"), prune: { kind: "magnitude", targets: ["conv"], schedule: { end: 3 } } }, "t"),
    /targets is for kind structured/,
  );
  assert.throws(
    bad({ kind: "structured", schedule: { end: 6 } }),
    (e: Error) => e instanceof ConfigError && /leaves no step to fine-tune: the run has 6 steps/.test(e.message),
  );
  assert.throws(
    bad({ kind: "structured", targets: ["heads"], schedule: { end: 3 } }),
    /prune\.targets heads removes nothing from a cnn \(it has conv, linear\)/,
  );
  assert.throws(bad({ kind: "structured", schedule: { end: 3 } }, { parallel: { zero: 1 } }), /prune needs whole weights on every rank/);
  assert.ok(!existsSync(join(work, "bad")), "nothing written");
});
