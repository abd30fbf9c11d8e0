import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { loadTextCorpus, readTextFile } from "../../src/data/corpus.js";
import type { DataLoader } from "../../src/data/dataloader.js";
import { collateTokens, TextDataset, type TokenBatch, type TokenWindow } from "../../src/data/text.js";

const tmp = mkdtempSync(join(tmpdir(), "turbine-text-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Tokens whose value is their position, so a window shows where it starts. */
const positions = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);

/** A batch as plain arrays of rows, after checking its shape and that y is x shifted by one; disposes it. */
function rows(batch: TokenBatch, context: number): number[][] {
  const { x, y } = batch;
  assert.equal(x.dtype, "int32");
  assert.equal(y.dtype, "int32");
  assert.equal(x.shape[1], context);
  assert.deepEqual([...y.shape], [...x.shape]);
  const xs = Array.from({ length: x.shape[0]! }, (_, b) => Array.from((x.data as Int32Array).subarray(b * context, (b + 1) * context)));
  xs.forEach((row, b) => {
    const yRow = Array.from((y.data as Int32Array).subarray(b * context, (b + 1) * context));
    assert.deepEqual(
      yRow,
      row.map((v) => v + 1),
      "positional tokens: y is x shifted by one",
    );
  });
  x.dispose();
  y.dispose();
  return xs;
}

/** The window starts of each batch of one pass of a loader over positional tokens (offset by the split's start). */
const pass = (loader: DataLoader<TokenWindow, TokenBatch>, context: number): number[][] =>
  Array.from(loader, (batch) => rows(batch, context).map((row) => row[0]!));

test("windows are contiguous, y is x shifted by one, and every start from 0 to n - T - 1 is a sample", () => {
  const tokens = Int32Array.from({ length: 50 }, (_, i) => (i * 37) % 101);
  const ds = new TextDataset(tokens, 8);
  assert.equal(ds.length, 42);
  assert.deepEqual([...ds.sampleShape], [8]);
  for (const start of [0, 17, 41]) {
    const { x, y } = ds.get(start);
    assert.deepEqual([...x], [...tokens.subarray(start, start + 8)]);
    assert.deepEqual([...y], [...tokens.subarray(start + 1, start + 9)]);
  }
  assert.equal(ds.get(41).y.at(-1), tokens.at(-1), "the last window ends on the last token");
  const window = ds.get(3);
  window.x[0] = -5;
  assert.equal(tokens[3], (3 * 37) % 101, "samples are copies");
  assert.throws(() => ds.get(42), /TextDataset\(text\): index 42 is out of range for a dataset of 42 samples/);
  assert.throws(() => new TextDataset(tokens, 50), /TextDataset\(text\): 50 tokens are too few for one window of context 50 \+ 1 target/);
  assert.throws(() => new TextDataset(tokens, 0), /TextDataset: context must be a positive integer, got 0/);
  assert.throws(() => new TextDataset([1, 2, 3] as never, 1), /TextDataset\(text\): tokens must be an Int32Array/);
});

test("the split is contiguous: the first 90% trains, the last 10% validates, as Python's int(0.9 * n)", () => {
  for (const [n, at] of [
    [1000, 900],
    [1005, 904],
    [37, 33],
  ] as const) {
    const tokens = positions(n);
    const { train, val } = TextDataset.split(tokens, { context: 2 });
    assert.equal(train.tokens.length, at, `n = ${n}`);
    assert.deepEqual([...train.tokens, ...val.tokens], [...tokens], "together they are the text, in order");
    assert.equal(train.tokens.buffer, tokens.buffer, "views, not copies");
    assert.equal(val.get(0).x[0], at, "validation starts where training ends");
    assert.equal(train.get(train.length - 1).y.at(-1), at - 1, "no training window reaches into validation");
    assert.equal(val.name, "val");
  }
  const { train } = TextDataset.split(positions(100), { context: 4, trainFraction: 0.75 });
  assert.equal(train.tokens.length, 75);
  assert.throws(() => TextDataset.split(positions(100), { context: 4, trainFraction: 1 }), /trainFraction must be a number strictly between 0 and 1, got 1/);
  assert.throws(() => TextDataset.split(positions(100), { context: 10 }), /TextDataset\(val\): 10 tokens are too few for one window of context 10/);
});

test("collateTokens stacks windows into [B, T] int32 tensors and rejects anything else", () => {
  const ds = new TextDataset(positions(30), 5);
  const batch = collateTokens([ds.get(4), ds.get(0), ds.get(24)]);
  assert.deepEqual([...batch.x.shape], [3, 5]);
  assert.equal(batch.x.category, "activation");
  assert.deepEqual(rows(batch, 5), [
    [4, 5, 6, 7, 8],
    [0, 1, 2, 3, 4],
    [24, 25, 26, 27, 28],
  ]);
  assert.throws(() => collateTokens([]), /collateTokens: cannot make a batch of 0 samples/);
  const short = { x: new Int32Array(4), y: new Int32Array(4) };
  assert.throws(
    () => collateTokens([ds.get(0), short]),
    /collateTokens: sample 1 has x Int32Array\(4\), expected \{ x: Int32Array\(5\), y: Int32Array\(5\) \}/,
  );
  assert.throws(() => collateTokens([ds.get(0), { x: [1], y: [2] } as never]), /sample 1 has x an array of 1, expected/);
});

test("training batches are random windows, the same for the same seed, new each epoch", () => {
  const { train } = TextDataset.split(positions(2000), { context: 16 });
  const loader = train.loader({ batchSize: 4, seed: 3 });
  assert.equal(loader.length, Math.floor(1800 / (16 * 4)), "an epoch covers the training tokens about once");
  const epoch0 = pass(loader, 16);
  assert.deepEqual(loader.state(), { epoch: 1, batchIndex: 0 });
  const epoch1 = pass(loader, 16);
  assert.deepEqual(
    epoch0.map((b) => b.length),
    new Array(28).fill(4),
  );
  const starts = epoch0.flat();
  assert.ok(
    starts.every((s) => s >= 0 && s <= 1800 - 17),
    "windows stay inside the training split",
  );
  assert.ok(new Set(starts).size > 100, "windows are spread over the text");
  assert.notDeepEqual(epoch1, epoch0, "epochs differ");
  assert.deepEqual(pass(train.loader({ batchSize: 4, seed: 3 }), 16), epoch0, "same seed, same batches");
  assert.notDeepEqual(pass(train.loader({ batchSize: 4, seed: 4 }), 16), epoch0, "another seed, other batches");
  assert.equal(train.loader({ batchSize: 4, batchesPerEpoch: 5 }).length, 5);
  assert.equal(train.loader({ batchSize: 1000 }).length, 1, "at least one batch per epoch");
  assert.throws(() => train.loader({ batchSize: 0 }), /TextDataset: batchSize must be a positive integer, got 0/);
  assert.throws(() => train.loader({ batchSize: 4, batchesPerEpoch: 2.5 }), /TextDataset: batchesPerEpoch must be a positive integer, got 2\.5/);
});

test("resuming mid-epoch from the loader's JSON state gives the batches an uninterrupted run would", () => {
  const { train } = TextDataset.split(positions(3000), { context: 8 });
  const options = { batchSize: 5, seed: 11, batchesPerEpoch: 6 };
  const reference = train.loader(options);
  const uninterrupted = [pass(reference, 8), pass(reference, 8), pass(reference, 8)].flat();

  const first = train.loader(options);
  const seen = pass(first, 8);
  for (const batch of first) {
    seen.push(rows(batch, 8).map((row) => row[0]!));
    if (seen.length === 9) break; // stop three batches into epoch 1
  }
  const saved = JSON.stringify(first.state());
  assert.deepEqual(JSON.parse(saved), { epoch: 1, batchIndex: 3 });

  const resumed = train.loader(options);
  resumed.loadState(JSON.parse(saved));
  seen.push(...pass(resumed, 8), ...pass(resumed, 8));
  assert.deepEqual(seen, uninterrupted);
});

test("validation batches are fixed windows spread evenly over the split, as the PyTorch twin's", () => {
  const { val } = TextDataset.split(positions(5000), { context: 10 });
  const loader = val.fixedLoader({ batchSize: 8 });
  assert.equal(loader.length, 20, "the recipe's 20 batches by default");
  const first = pass(loader, 10);
  assert.deepEqual(pass(loader, 10), first, "a second evaluation sees the same batches");
  const starts = first.flat();
  const last = val.length - 1; // the last window that fits: 500 tokens, context 10
  assert.deepEqual(
    starts,
    Array.from({ length: 160 }, (_, k) => 4500 + Math.floor((k * last) / 159)),
    "window k at ⌊k·(n−1)/(count−1)⌋",
  );
  assert.equal(val.fixedLoader({ batchSize: 8, batches: 3 }).length, 3);
  assert.throws(() => val.fixedLoader({ batchSize: 8, batches: 0 }), /TextDataset: batches must be a positive integer, got 0/);
  assert.throws(() => val.fixedLoader({ batchSize: 400, batches: 2 }), /800 validation windows exceed the 490 this text holds/);
});

test("any UTF-8 file can be the corpus; a missing or invalid file is an error naming its path", () => {
  const path = join(tmp, "poem.txt");
  const text = "Ünïcödé \u{1F680} lines\nare e\u0301 fine\n".repeat(40);
  writeFileSync(path, `\uFEFF${text}`);
  const corpus = loadTextCorpus({ path, context: 16 });
  assert.equal(corpus.text, text, "a byte-order mark is dropped");
  assert.equal(corpus.tokenizer.decode(corpus.tokens), text);
  assert.equal(corpus.tokens.length, [...text].length, "one token per code point");
  assert.equal(corpus.train.tokens.length, Math.floor(0.9 * corpus.tokens.length));
  assert.equal(corpus.train.context, 16);
  assert.equal(corpus.val.tokens.length + corpus.train.tokens.length, corpus.tokens.length);

  const missing = join(tmp, "nowhere", "missing.txt");
  assert.throws(
    () => loadTextCorpus({ path: missing }),
    (err: Error) => err.message === `${missing}: no such text file`,
  );
  const binary = join(tmp, "binary.txt");
  writeFileSync(binary, Buffer.from([0x61, 0xff, 0x62]));
  assert.throws(
    () => readTextFile(binary),
    (err: Error) => err.message === `${binary}: is not valid UTF-8 text`,
  );
  const short = join(tmp, "short.txt");
  writeFileSync(short, "too short for a window");
  assert.throws(
    () => loadTextCorpus({ path: short }),
    (err: Error) => err.message.startsWith(`loadTextCorpus: ${short}: TextDataset(train): 19 tokens are too few for one window of context 128`),
  );
  const empty = join(tmp, "empty.txt");
  writeFileSync(empty, "");
  assert.throws(
    () => loadTextCorpus({ path: empty }),
    (err: Error) => err.message.startsWith(`loadTextCorpus: ${empty}: CharTokenizer.fromText: the text is empty`),
  );
});
