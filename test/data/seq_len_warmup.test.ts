import assert from "node:assert/strict";
import { test } from "node:test";

import { SeqLenWarmup } from "../../src/data/seq_len_warmup.js";
import { collateTokens, TextDataset } from "../../src/data/text.js";

test("the context grows from start to full over `steps` steps, in multiples of 8", () => {
  const w = new SeqLenWarmup({ start: 16, steps: 100, full: 128 });
  const lengths = Array.from({ length: 120 }, (_, step) => w.lengthAt(step));
  assert.equal(lengths[0], 16);
  assert.equal(lengths[100], 128);
  assert.equal(lengths[119], 128);
  assert.ok(
    lengths.every((l, i) => i === 0 || l >= lengths[i - 1]!),
    "never shrinks",
  );
  assert.ok(lengths.every((l) => l % 8 === 0 && l >= 16 && l <= 128));
  // linear: 16 + 112·t/100, rounded down to a multiple of 8
  assert.equal(w.lengthAt(50), 72);
  assert.equal(w.lengthAt(99), 120);
  assert.deepEqual([...new Set(lengths)], [16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128]);
  const root = new SeqLenWarmup({ start: 16, steps: 100, full: 128, pacing: "root" });
  assert.ok(root.lengthAt(10) > w.lengthAt(10), "root pacing grows faster at first");
  // A start or full length off the multiple is kept as is: 5 + 2.5·t rounded down to a multiple of 8, never below 5, 30 at the end.
  const odd = new SeqLenWarmup({ start: 5, steps: 10, full: 30, multiple: 8 });
  assert.deepEqual(
    Array.from({ length: 11 }, (_, s) => odd.lengthAt(s)),
    [5, 5, 8, 8, 8, 16, 16, 16, 24, 24, 30],
  );
  assert.equal(new SeqLenWarmup({ start: 3, steps: 4, full: 10, multiple: 1 }).lengthAt(2), 6);
  assert.throws(() => new SeqLenWarmup({ start: 0, steps: 4, full: 10 }), /SeqLenWarmup: start must be an integer in \[1, 10\] \(the full context\), got 0/);
  assert.throws(() => new SeqLenWarmup({ start: 11, steps: 4, full: 10 }), /start must be an integer in \[1, 10\]/);
  assert.throws(() => new SeqLenWarmup({ start: 2, steps: 0, full: 10 }), /pacing: steps must be a positive integer, got 0/);
  assert.throws(() => w.lengthAt(-1), /SeqLenWarmup: step must be a non-negative integer, got -1/);
});

test("a cropped batch is the batch of windows of the shorter context at the same starts", () => {
  const tokens = Int32Array.from({ length: 200 }, (_, i) => (i * 31) % 97);
  const full = new TextDataset(tokens, 32);
  const starts = [0, 17, 150, 167];
  const w = new SeqLenWarmup({ start: 8, steps: 4, full: 32 });
  for (const step of [0, 1, 2, 3, 4]) {
    const length = w.lengthAt(step);
    const cropped = w.crop(collateTokens(starts.map((s) => full.get(s))), step);
    const short = collateTokens(starts.map((s) => new TextDataset(tokens, length).get(s)));
    assert.deepEqual([...cropped.x.shape], [4, length]);
    assert.deepEqual(cropped.x.toArray(), short.x.toArray(), `step ${step}: x`);
    assert.deepEqual(cropped.y.toArray(), short.y.toArray(), `step ${step}: y`);
    for (const t of [cropped.x, cropped.y, short.x, short.y]) t.dispose();
  }
  const batch = collateTokens([full.get(0)]);
  assert.strictEqual(w.crop(batch, 10), batch, "at full length the batch passes through");
  assert.throws(
    () => new SeqLenWarmup({ start: 8, steps: 4, full: 64 }).crop(batch, 0),
    /SeqLenWarmup: batch x \[1, 32\] must be \[B, 64\] \(the full context\)/,
  );
  batch.x.dispose();
  batch.y.dispose();
});
