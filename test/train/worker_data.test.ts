import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { checkpointName } from "../../src/train/checkpoint.js";
import { pieceFile } from "../../src/train/checkpoint_index.js";
import { parseConfig } from "../../src/train/config_file.js";
import { runTraining } from "../../src/train/run.js";
import { missingFashionMnist, skipIfMissing } from "../helpers/prerequisites.js";

const work = mkdtempSync(join(tmpdir(), "turbine-workers-"));
after(() => rmSync(work, { recursive: true, force: true }));
const skip = skipIfMissing(missingFashionMnist());

function config(outDir: string, numWorkers: number) {
  return parseConfig(
    {
      outDir,
      model: { kind: "mlp", hidden: [16] },
      data: {
        kind: "fashion-mnist",
        batchSize: 64,
        evalBatchSize: 5000,
        numWorkers,
        augment: [{ kind: "randomCrop", padding: 2 }, { kind: "randomHorizontalFlip" }],
      },
      train: { steps: 6, threads: 1 },
      checkpoint: { every: 3 },
    },
    "test",
  );
}

const weights = (runDir: string, step: number): Buffer => readFileSync(join(runDir, "checkpoints", checkpointName(step), pieceFile("model", 0)));

test("training with augmentation gives bitwise the same weights on 0 or 2 workers, and resumed mid-run on 1", { skip, timeout: 300_000 }, () => {
  const quiet = { log: () => {} };
  const inThread = runTraining(config(join(work, "w0"), 0), quiet);
  const workers = runTraining(config(join(work, "w2"), 2), quiet);
  assert.ok(workers.data_wait_s >= 0 && workers.data_wait_s < workers.train_s);
  assert.ok(weights(workers.run_dir, 6).equals(weights(inThread.run_dir, 6)), "2 workers: the weights of the in-thread run");

  const resumedDir = join(work, "resumed");
  cpSync(join(work, "w2"), resumedDir, { recursive: true });
  rmSync(join(resumedDir, "mlp", "version_0", "checkpoints", checkpointName(6)), { recursive: true });
  const resumed = runTraining(config(resumedDir, 1), { ...quiet, resume: join(resumedDir, "mlp", "version_0", "checkpoints") });
  assert.equal(resumed.steps, 6);
  assert.ok(weights(resumed.run_dir, 6).equals(weights(inThread.run_dir, 6)), "resumed at step 3 on 1 worker: the same weights");
});

test("the augment config is validated field by field", () => {
  const bad = (augment: unknown) => () => parseConfig({ model: { kind: "cnn" }, data: { kind: "fashion-mnist", augment } }, "test");
  assert.throws(bad([{ kind: "rotate" }]), /data\.augment\.0\.kind: got "rotate"/);
  assert.throws(bad([{ kind: "randomHorizontalFlip", p: 1.5 }]), /data\.augment\.0\.p/);
  assert.throws(() => parseConfig({ model: { kind: "cnn" }, data: { kind: "fashion-mnist", numWorkers: -1 } }, "test"), /data\.numWorkers/);
  const ok = parseConfig({ model: { kind: "cnn" }, data: { kind: "fashion-mnist", augment: [{ kind: "randomCrop", padding: 4 }] } }, "test");
  assert.deepEqual(ok.data.kind === "fashion-mnist" && ok.data.augment, [{ kind: "randomCrop", padding: 4, fill: "black" }]);
});
