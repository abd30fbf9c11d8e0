import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { DataLoader } from "../../src/data/dataloader.js";
import { ArrayDataset } from "../../src/data/dataset.js";
import { collateTokens, type TokenWindow } from "../../src/data/text.js";
import { GPT } from "../../src/models/gpt.js";
import { SGD } from "../../src/optim/sgd.js";
import { manualSeed } from "../../src/tensor/random.js";
import { CheckpointCallback, type EvalInfo } from "../../src/train/callbacks.js";
import { checkpointName, listCheckpoints } from "../../src/train/checkpoint.js";
import { languageModel } from "../../src/train/task.js";
import { Trainer } from "../../src/train/trainer.js";

const work = mkdtempSync(join(tmpdir(), "turbine-stop-"));
after(() => rmSync(work, { recursive: true, force: true }));

function windows(count: number): TokenWindow[] {
  let state = 7;
  const token = () => (state = (state * 1103515245 + 12345) % 2 ** 31) % 11;
  return Array.from({ length: count }, () => {
    const run = Int32Array.from({ length: 9 }, token);
    return { x: run.slice(0, 8), y: run.slice(1) };
  });
}

test("a stop request ends training after that step with a checkpoint (even with atEnd off) and no final evaluation", () => {
  manualSeed(1);
  const model = new GPT({ vocabSize: 11, context: 8, layers: 1, heads: 1, width: 8 });
  const data = windows(40);
  const evaluations: EvalInfo[] = [];
  const checkpoints = new CheckpointCallback(join(work, "checkpoints"), { atEnd: false });
  let polls = 0;
  const trainer = new Trainer({
    model,
    optimizer: new SGD(model.parameters(), { lr: 0.1 }),
    task: languageModel(),
    train: new DataLoader(new ArrayDataset(data), { batchSize: 4, collate: collateTokens }),
    eval: new DataLoader(new ArrayDataset(data.slice(0, 8)), { batchSize: 4, collate: collateTokens }),
    evalEvery: 2,
    callbacks: [checkpoints, { onEvalEnd: (info) => evaluations.push(info) }],
    stopRequested: () => (++polls === 3 ? "SIGINT" : null),
  });
  const result = trainer.fit({ steps: 8 });
  assert.equal(result.steps, 3, "the step in flight when the request came finishes, no later one starts");
  assert.equal(result.interrupted, "SIGINT");
  assert.equal(trainer.interrupted, "SIGINT");
  assert.deepEqual(
    evaluations.map((e) => e.step),
    [2],
    "the evaluation of step 2 ran; none after the stop",
  );
  assert.deepEqual(listCheckpoints(join(work, "checkpoints")), [join(work, "checkpoints", checkpointName(3))]);
  assert.equal(checkpoints.last, join(work, "checkpoints", checkpointName(3)));
});
