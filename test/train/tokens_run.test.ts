import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { prepareTokenFile } from "../../src/data/prepare.js";
import { SeqLenWarmup } from "../../src/data/seq_len_warmup.js";
import { buildRun } from "../../src/train/build.js";
import { parseConfig } from "../../src/train/config_file.js";
import { Trainer } from "../../src/train/trainer.js";

const tmp = mkdtempSync(join(tmpdir(), "turbine-tokrun-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const TEXT = Array.from({ length: 120 }, (_, i) => `line ${i}: the quick brown fox ${i % 3 ? "jumps" : "sleeps"} over ${(i * 37) % 101}\n`).join("");
const textPath = join(tmp, "corpus.txt");
const tokensPath = join(tmp, "corpus.tokens");
writeFileSync(textPath, TEXT);
prepareTokenFile(textPath, tokensPath);

const CONTEXT = 24;
const BATCH = 4;

/** A tiny gpt config over the text file or its token file, optionally with a warm-up. */
function config(data: Record<string, unknown>) {
  return parseConfig(
    {
      model: { kind: "gpt", layers: 1, heads: 2, width: 16, context: CONTEXT },
      data: { batchSize: BATCH, valBatches: 2, ...data },
      optimizer: { kind: "adamw", lr: 3e-3 },
      train: { steps: 8, seed: 3 },
    },
    "test",
  );
}

/** Trains a config for its steps; returns each step's loss and batch length, and the trainer. */
function train(cfg: ReturnType<typeof config>) {
  const parts = buildRun(cfg);
  const losses: number[] = [],
    lengths: number[] = [];
  const trainer = new Trainer({
    ...parts,
    prepareBatch: (batch, step) => {
      const out = parts.prepareBatch ? parts.prepareBatch(batch, step) : batch;
      lengths.push(out.x.shape[1]!);
      return out;
    },
    callbacks: [{ onStepEnd: (info) => losses.push(info.loss) }],
  });
  const result = trainer.fit({ steps: parts.totalSteps });
  return { losses, lengths, trainer, result, parts };
}

test("the gpt trains on a token file exactly as on the text it was prepared from", () => {
  const fromText = train(config({ kind: "text", path: textPath }));
  const fromTokens = train(config({ kind: "tokens", path: tokensPath }));
  assert.equal(fromTokens.losses.length, 8);
  assert.deepEqual(fromTokens.losses, fromText.losses, "the same batches and initialisation give the same losses");
  assert.ok(fromTokens.losses.every(Number.isFinite));
  assert.deepEqual(fromTokens.lengths, new Array(8).fill(CONTEXT));
  assert.equal(fromTokens.result.eval?.loss, fromText.result.eval?.loss);
  assert.deepEqual(fromTokens.parts.meta.tokenizer, fromText.parts.meta.tokenizer, "the checkpoint's tokenizer comes from the file's header");
  assert.equal(fromTokens.result.unit, "tokens");
  assert.equal(fromTokens.trainer.processedUnits, 8 * BATCH * CONTEXT);
});

test("a sequence-length warm-up trains on short windows first and counts the tokens it trained on", () => {
  const warm = config({ kind: "tokens", path: tokensPath, seqLenWarmup: { start: 8, steps: 6 } });
  const run = train(warm);
  const schedule = new SeqLenWarmup({ start: 8, steps: 6, full: CONTEXT });
  const expected = Array.from({ length: 8 }, (_, s) => schedule.lengthAt(s));
  assert.deepEqual(expected, [8, 8, 8, 16, 16, 16, 24, 24]);
  assert.deepEqual(run.lengths, expected, "each step's batch has the scheduled length");
  assert.equal(run.trainer.processedUnits, BATCH * expected.reduce((a, b) => a + b), "throughput counts the tokens actually trained on");
  assert.ok(run.losses.every(Number.isFinite));
  assert.throws(
    () => buildRun(config({ kind: "tokens", path: tokensPath, seqLenWarmup: { start: 32, steps: 6 } })),
    /data\.seqLenWarmup\.start 32 exceeds model\.context 24/,
  );
  assert.throws(() => buildRun(config({ kind: "tokens", path: join(tmp, "none.tokens") })), /none\.tokens: no such token file/);
});
