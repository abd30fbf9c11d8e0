import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { DataLoader } from "../../src/data/dataloader.js";
import { ArrayDataset } from "../../src/data/dataset.js";
import { collateTokens, type TokenWindow } from "../../src/data/text.js";
import { cnn } from "../../src/models/cnn.js";
import { GPT } from "../../src/models/gpt.js";
import { mlp } from "../../src/models/mlp.js";
import { AdamW } from "../../src/optim/adamw.js";
import { memory } from "../../src/tensor/memory.js";
import { manualSeed } from "../../src/tensor/random.js";
import type { Config, ConfigInput } from "../../src/train/config.js";
import { ConfigError, parseConfig } from "../../src/train/config_file.js";
import { checkMemoryFloor, configParameterCount, memoryFloor } from "../../src/train/memory_floor.js";
import { parameterCount } from "../../src/train/model_state_bytes.js";
import { languageModel } from "../../src/train/task.js";
import { Trainer } from "../../src/train/trainer.js";
import { repoRoot } from "../helpers/paths.js";

const GiB = 2 ** 30;
const gptConfig = (model: Record<string, unknown>, data: Record<string, unknown> = {}, rest: Partial<ConfigInput> = {}): Config =>
  parseConfig({ model: { kind: "gpt", ...model }, data: { kind: "text", ...data }, ...rest }, "test");

test("the parameter count from the config equals the built model's, for the mlp, the cnn and the gpt (tied, untied, mixture of experts)", () => {
  // Catches a missing bias, LayerNorm or position table, a wrong pooled size, an untied head counted when tied.
  const mlpModel: Config["model"] = { kind: "mlp", hidden: [40, 24], init: "default" };
  assert.equal(configParameterCount(mlpModel), parameterCount(mlp({ inputs: 784, hidden: [40, 24], classes: 10 })));
  const cnnModel: Config["model"] = { kind: "cnn", channels: [4, 6, 3], hidden: 12, init: "default" };
  assert.equal(configParameterCount(cnnModel), parameterCount(cnn({ input: [1, 28, 28], channels: [4, 6, 3], hidden: 12, classes: 10 })));
  for (const extra of [{}, { tiedHead: false }, { moe: { experts: 3, topK: 2 } }]) {
    const config = gptConfig({ layers: 2, heads: 2, width: 16, context: 12, ...extra });
    const m = config.model as Extract<Config["model"], { kind: "gpt" }>;
    const built = new GPT({ vocabSize: 29, context: m.context, layers: m.layers, heads: m.heads, width: m.width, tiedHead: m.tiedHead, moe: m.moe });
    assert.equal(configParameterCount(m, 29), parameterCount(built), JSON.stringify(extra));
  }
});

test("the floor is below what a small gpt run really holds at its peak: the check never refuses a run that fits", () => {
  // Catches a floor that counts what turbine does not keep (a T×T attention matrix, activations of every micro-batch).
  const config = gptConfig({ layers: 2, heads: 2, width: 48, context: 16 }, { batchSize: 4 });
  const vocab = 23;
  manualSeed(1);
  const model = new GPT({ vocabSize: vocab, context: 16, layers: 2, heads: 2, width: 48 });
  const optimizer = new AdamW(model.parameters(), { lr: 1e-3 });
  memory.resetPeak();
  let state = 7;
  const token = (): number => (state = (state * 1103515245 + 12345) % 2 ** 31) % vocab;
  const windows: TokenWindow[] = Array.from({ length: 8 }, () => {
    const run = Int32Array.from({ length: 17 }, token);
    return { x: run.slice(0, 16), y: run.slice(1) };
  });
  new Trainer({ model, optimizer, task: languageModel(), train: new DataLoader(new ArrayDataset(windows), { batchSize: 4, collate: collateTokens }) }).fit({
    steps: 2,
  });
  const floor = memoryFloor(config, { vocabSize: vocab });
  const peak = memory.report().peakTotal;
  for (const p of model.parameters()) p.dispose();
  assert.ok(floor.total > 0 && floor.total <= peak, `floor ${floor.total} ≤ measured peak ${peak}`);
  assert.ok(floor.total >= peak / 10, `and not far below it: floor ${floor.total}, peak ${peak}`);
});

test("model.layers=100000000 is refused naming the sizes, the parameter count and the machine's memory; the shipped configs pass on 8 GiB", () => {
  const huge = gptConfig({ layers: 100_000_000 });
  // 1e8 blocks of 12·256² + 13·256 parameters, the position table, the final LayerNorm and a vocabulary of (at least) 1.
  assert.throws(() => checkMemoryFloor(huge, { memory: 128 * GiB }), {
    message:
      /^config: the model \(model\.layers 100000000, model\.width 256, model\.context 128\) has 78,976,000,033,536 parameters, \d+ TiB with their gradients and adamw state and this machine has 128 GiB of memory; lower the model's sizes$/,
  });
  for (const file of readdirSync(join(repoRoot(), "examples")).filter((f) => f.endsWith(".json"))) {
    const config = parseConfig(JSON.parse(readFileSync(join(repoRoot(), "examples", file), "utf8")), file);
    checkMemoryFloor(config, { memory: 8 * GiB });
  }
});

test("a batch whose activations cannot fit is refused naming data.batchSize; the ranks on one machine add up, ZeRO-3 shards the states", () => {
  const config = gptConfig({ layers: 4, width: 256, context: 128 }, { batchSize: 1_000_000 });
  assert.throws(() => checkMemoryFloor(config, { memory: 64 * GiB }), {
    message:
      /^config: a batch of data\.batchSize 1000000 × model\.context 128 tokens keeps at least .* of activations and this machine has 64\.0 GiB of memory; lower data\.batchSize$/,
  });
  const small = gptConfig({ layers: 4, width: 256, context: 128 }, { batchSize: 8 });
  const one = memoryFloor(small, { ranks: 4, ranksHere: 1 });
  assert.equal(memoryFloor(small, { ranks: 4 }).total, 4 * one.total, "four ranks on this machine hold four shares");
  const zero3 = gptConfig({ layers: 4, width: 256, context: 128 }, { batchSize: 8 }, { parallel: { zero: 3 } });
  // ZeRO-3 over 4 ranks: 16 bytes per parameter become 16 / 4.
  assert.equal(memoryFloor(zero3, { ranks: 4, ranksHere: 1 }).modelStates, 4 * Math.ceil(one.parameters / 4) * 4);
  assert.equal(one.modelStates, 16 * one.parameters, "DDP: float32 weights, gradients and AdamW's two moments");
});

test("a cnn with more conv+pool stages than a 28×28 image allows is a config error, not a RangeError", () => {
  const config = parseConfig({ model: { kind: "cnn", channels: [4, 4, 4, 4] }, data: { kind: "fashion-mnist" } }, "test");
  assert.throws(
    () => memoryFloor(config),
    (e: unknown) => e instanceof ConfigError && /model\.channels has 4 stages; a 28×28 image allows at most 3/.test(e.message),
  );
});
