import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { AdamW } from "../../src/optim/adamw.js";
import { SingleProcess } from "../../src/parallel/strategy.js";
import { disposeState } from "../../src/parallel/state.js";
import { CheckpointError, checkpointName, saveCheckpoint } from "../../src/train/checkpoint.js";
import { parseConfig } from "../../src/train/config_file.js";
import { consolidateCheckpoint } from "../../src/train/consolidate.js";
import { loadTrainedModel, modelOfConfig } from "../../src/train/trained_model.js";

const work = mkdtempSync(join(tmpdir(), "turbine-trained-model-"));
after(() => rmSync(work, { recursive: true, force: true }));

const configOf = (hidden: number[]) => parseConfig({ model: { kind: "mlp", hidden }, data: { kind: "fashion-mnist" }, train: { steps: 1 } }, "test");

/** A checkpoint whose weights are an mlp of `weights` hidden widths and whose meta.json says `said` (checksums consistent). */
function checkpointOf(name: string, weights: number[], said: number[]): string {
  const model = modelOfConfig(configOf(weights).model);
  const state = new SingleProcess(model).stateDict(new AdamW(model.parameters(), { lr: 1e-3 }));
  const dir = join(work, name, "checkpoints", checkpointName(1));
  saveCheckpoint(dir, { state, meta: { step: 1, epoch: 0, config: configOf(said) } });
  disposeState(state);
  return dir;
}

test("a checkpoint whose weights are not its config's model: sample, prune and consolidate fail with a CheckpointError naming it", () => {
  const good = checkpointOf("good", [8], [8]);
  assert.equal(loadTrainedModel(good, () => {}).model.parameterCount(), 784 * 8 + 8 + 8 * 10 + 10);
  assert.equal(consolidateCheckpoint(good, join(work, "good.safetensors"), () => {}, true).tensors, 4);

  const wrong = checkpointOf("wrong", [8], [16]);
  const named = (e: unknown): boolean =>
    e instanceof CheckpointError &&
    e.message.includes(wrong) &&
    /its weights do not fit the model its meta\.json describes \(.*loadStateDict: '.*' is float32 \[8, 784\]/.test(e.message);
  assert.throws(() => loadTrainedModel(wrong, () => {}), named);
  assert.throws(() => consolidateCheckpoint(wrong, join(work, "wrong.safetensors"), () => {}, true), named, "never a plausible file of the wrong model");
});
