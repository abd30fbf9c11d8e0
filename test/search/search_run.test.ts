import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, test } from "node:test";

import { parseSearchSpace } from "../../src/search/space.js";
import { readSearchLog } from "../../src/search/search_log.js";
import { runSearch } from "../../src/search/search.js";
import { checkpointName } from "../../src/train/checkpoint.js";
import { parseConfig } from "../../src/train/config_file.js";
import { runTraining } from "../../src/train/run.js";
import { writeTinyFashion } from "../helpers/tiny_fashion.js";

// A real PBT search, trials training in worker threads on a tiny learnable Fashion-MNIST: copies
// of checkpoints, their explored learning rates, and rung-end checkpoints at exactly the step asked.

const tmp = mkdtempSync(join(tmpdir(), "turbine-search-run-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const root = writeTinyFashion(join(tmp, "fashion"), { train: 256, test: 100 });

test("PBT: a copied trial continues from the donor's checkpoint with its own explored learning rate", { timeout: 300_000 }, async () => {
  const base = {
    model: { kind: "mlp", hidden: [8] },
    data: { kind: "fashion-mnist", root, batchSize: 32, evalBatchSize: 100, cache: "none" },
    train: { logEvery: 1 },
  };
  const outDir = join(tmp, "pbt");
  const outcome = await runSearch({
    base,
    configSource: "tiny.json",
    space: parseSearchSpace({ "optimizer.lr": { loguniform: [1e-4, 3e-2] } }, "space"),
    scheduler: "pbt",
    trials: 4,
    parallel: 2,
    outDir,
    maxSteps: 6,
    metric: "accuracy",
    minSteps: 1,
    eta: 3,
    perturb: 2,
    seed: 1,
    log: () => {},
  });
  const events = readSearchLog(join(outDir, "search.jsonl"))!.events;
  const results = events.flatMap((e) => (e.event === "result" ? [e] : []));
  for (const r of results) {
    assert.equal(r.error, undefined, r.error);
    // Each segment ends with a checkpoint of the step it was asked to reach (the schedule spans the budget).
    assert.equal(basename(r.checkpoint!), checkpointName(r.job.toStep));
  }
  const copies = results.filter((r) => r.job.copyFrom);
  assert.ok(copies.length > 0, "the bottom quantile copied a checkpoint");
  for (const { job } of copies) {
    const donorResult = results.find((r) => r.job.trial === job.copyFrom!.trial && r.checkpoint === job.copyFrom!.checkpoint);
    assert.ok(donorResult, `trial ${job.trial} copied a checkpoint trial ${job.copyFrom!.trial} reported`);
    assert.equal(job.fromStep, donorResult.job.toStep);
    // The first step after the copy ran at the explored rate (the schedule is constant), not the donor's.
    const lines = readFileSync(join(outDir, "trials", String(job.trial), "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const first = lines.filter((l) => l.type === "train" && l.step === job.fromStep + 1).at(-1);
    const ratio = first.lr / (donorResult.job.params["optimizer.lr"] as number);
    assert.ok([0.8, 1.2].some((r) => Math.abs(ratio - r) < 1e-9) || first.lr === 3e-2 || first.lr === 1e-4, `lr ×${ratio} after the copy`);
  }
  assert.equal(outcome.trials.length, 4);
  assert.ok(outcome.trials.every((t) => t.steps === 6 && t.status === "done"));
  assert.ok(existsSync(join(outDir, "trials", "0.log")));
});

test("untilStep: a run stopped at a rung and resumed ends where the run trained straight through does (the schedule spans the budget)", () => {
  const config = parseConfig(
    {
      model: { kind: "mlp", hidden: [8] },
      data: { kind: "fashion-mnist", root, batchSize: 32, evalBatchSize: 100, cache: "none" },
      schedule: { warmup: 2, decay: "cosine", floor: 0.1 },
      train: { steps: 8, threads: 1 },
      outDir: join(tmp, "rungs"),
    },
    "rungs",
  );
  const quiet = { log: () => {} };
  const straight = runTraining(config, quiet);
  const rung = runTraining(config, { ...quiet, untilStep: 3 });
  assert.equal(rung.steps, 3);
  assert.equal(basename(rung.checkpoint!), checkpointName(3));
  assert.notEqual(rung.eval, null, "the rung is evaluated");
  const resumed = runTraining(config, { ...quiet, resume: rung.run_dir });
  assert.equal(resumed.steps, 8);
  assert.deepEqual(resumed.eval, straight.eval);
});
