import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { parseConfig, readConfigFile } from "../../src/train/config_file.js";
import type { Config } from "../../src/train/config.js";
import { LEVERS, type Lever, type TuneContext } from "../../src/tune/levers.js";
import type { Measure } from "../../src/tune/trial.js";
import { tune } from "../../src/tune/tune.js";
import { formatTune, writeTunedConfig } from "../../src/tune/tuned_config.js";

const work = mkdtempSync(join(tmpdir(), "turbine-tune-"));
after(() => rmSync(work, { recursive: true, force: true }));

const gpt = parseConfig(
  { model: { kind: "gpt", layers: 2, heads: 2, width: 32, context: 16 }, data: { kind: "text", batchSize: 8 }, train: { accumulate: 4 } },
  "test",
);
const context: TuneContext = { ranks: 1, cores: 4, machine: null, memoryPerRank: 1e9, vocab: 65 };

/** A lever that raises the learning rate: the constructed trial below makes it fast and 1% worse. */
const reckless: Lever = { name: "reckless", change: (c) => ({ config: { ...c, optimizer: { ...c.optimizer, lr: 0.5 } } as Config, what: "optimizer.lr 0.5" }) };

/**
 * Constructed trials: bf16 makes a step 0.8× as long and the validation 0.2% worse; the reckless
 * lever halves the step and makes the validation 1% worse; checkpointing makes it 1.3× as long.
 */
const constructed: Measure = async (c) => {
  let seconds = 0.1,
    validation = 2;
  if (c.train.precision === "bfloat16") [seconds, validation] = [seconds * 0.8, validation * 1.002];
  if (c.optimizer.lr === 0.5) [seconds, validation] = [seconds * 0.5, validation * 1.01];
  if (c.model.kind === "gpt" && c.model.checkpoint) seconds *= 1.3;
  return { secondsPerStep: seconds, validation };
};

test("tune keeps a lever only when faster with the validation within 0.5% of the baseline's", async () => {
  // Catches a lever kept for speed alone (the reckless one is 2× as fast, 1% worse), or one kept though slower.
  const levers = LEVERS.filter((l) => l.name === "precision" || l.name === "activation checkpointing");
  const result = await tune(gpt, { measure: constructed, context, levers: [levers[0]!, reckless, levers[1]!] });
  const row = (name: string) => result.rows.find((r) => r.lever === name)!;
  assert.equal(row("precision").kept, true);
  assert.equal(row("reckless").kept, false);
  assert.match(row("reckless").reason, /validation \+1\.20% > \+0\.50%/);
  assert.ok(row("reckless").speedup! > 1.5, "it was faster: the validation refused it");
  assert.equal(row("activation checkpointing").kept, false);
  assert.match(row("activation checkpointing").reason, /not 2% faster/);
  assert.equal(result.config.train.precision, "bfloat16");
  assert.equal(result.config.optimizer.lr, gpt.optimizer.lr, "the refused lever left the config alone");
  assert.ok(Math.abs(result.factor - 1 / 0.8) < 1e-9, `factor ${result.factor}`);
  assert.match(formatTune(result), /tuned: 1\.25× the baseline's speed .* kept: precision/);
});

test("the written config, JSON or YAML, parses back to the tuned config with the kept levers", async () => {
  // Catches a file that loses a kept lever, drops defaults turbine needs, or does not parse.
  const result = await tune(gpt, { measure: constructed, context });
  assert.equal(result.config.train.precision, "bfloat16");
  for (const name of ["tuned.json", "tuned.yaml"]) {
    const path = join(work, name);
    writeTunedConfig(path, result.config);
    const back = parseConfig(readConfigFile(path), path);
    assert.deepEqual(JSON.parse(JSON.stringify(back)), JSON.parse(JSON.stringify(result.config)), name);
  }
});

test("levers apply only where they mean something, and a failing trial is reported, not kept", async () => {
  // Catches a lever applied to a config it cannot change (cnn checkpointing, compression on one rank).
  const lever = (name: string) => LEVERS.find((l) => l.name === name)!;
  const batch = lever("batch size").change(gpt, context);
  assert.ok(typeof batch !== "string" && batch.config.data.batchSize === 16 && batch.config.train.accumulate === 2, "global batch kept");
  assert.match(lever("batch size").change({ ...gpt, train: { ...gpt.train, accumulate: 1 } }, context) as string, /accumulate 1/);
  const cnn = parseConfig({ model: { kind: "cnn" }, data: { kind: "fashion-mnist" } }, "cnn");
  assert.match(lever("activation checkpointing").change(cnn, context) as string, /cnn/);
  assert.match(lever("gradient compression").change(gpt, context) as string, /1 rank/);
  assert.match(lever("parallel layout").change(gpt, context) as string, /1 rank/);
  const workers = lever("loader workers").change(gpt, context);
  assert.ok(typeof workers !== "string" && "numWorkers" in workers.config.data && workers.config.data.numWorkers === 3, "cores − 1");
  const failing: Measure = async (c) => {
    if (c.train.precision === "bfloat16") throw new Error("out of memory\nat …");
    return constructed(c);
  };
  const result = await tune(gpt, { measure: failing, context, levers: [lever("precision")] });
  assert.equal(result.rows[0]!.kept, false);
  assert.equal(result.rows[0]!.reason, "failed: out of memory");
  assert.equal(result.factor, 1);
});
