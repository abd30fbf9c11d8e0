import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import type { DataLoader } from "../../src/data/dataloader.js";
import { prepareTokenFile } from "../../src/data/prepare.js";
import { TextDataset, type TokenBatch, type TokenWindow } from "../../src/data/text.js";
import { TokenFileDataset } from "../../src/data/token_dataset.js";
import { TokenFile, TokenFileWriter } from "../../src/data/token_file.js";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { repoRoot } from "../helpers/paths.js";

const tmp = mkdtempSync(join(tmpdir(), "turbine-tokds-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A text of a few thousand characters, varied enough that windows at different starts differ. */
const TEXT = Array.from({ length: 300 }, (_, i) => `verse ${i}: ${"and the éarth 🙂 was".slice(i % 7)} ${(i * 7919) % 1000}\n`).join("");

/** Every batch of one pass, as arrays [x rows, y rows]; disposes the batches. */
const pass = (loader: DataLoader<TokenWindow, TokenBatch>): number[][][] =>
  Array.from(loader, ({ x, y }) => {
    const out = [x.toArray(), y.toArray()] as number[][];
    x.dispose();
    y.dispose();
    return out;
  });

test("a token file's windows, random batches and validation batches equal the text dataset's on the same text", () => {
  const src = join(tmp, "text.txt");
  writeFileSync(src, TEXT);
  const out = join(tmp, "text.tokens");
  prepareTokenFile(src, out, { chunkBytes: 100 });
  const tokenizer = CharTokenizer.fromText(TEXT);
  const file = TokenFile.open(out);
  for (const [context, trainFraction] of [
    [16, 0.9],
    [33, 0.75],
  ] as const) {
    const mem = TextDataset.split(tokenizer.encode(TEXT), { context, trainFraction });
    const disk = TokenFileDataset.split(file, { context, trainFraction });
    for (const part of ["train", "val"] as const) {
      assert.equal(disk[part].length, mem[part].length, part);
      assert.equal(disk[part].tokenCount, mem[part].tokenCount, part);
      for (let i = 0; i < mem[part].length; i++) {
        const a = mem[part].get(i),
          b = disk[part].get(i);
        assert.deepEqual([...b.x, b.y.at(-1)], [...a.x, a.y.at(-1)], `${part} window ${i}`);
      }
    }
    const memLoader = mem.train.loader({ batchSize: 4, seed: 7, batchesPerEpoch: 5 });
    const diskLoader = disk.train.loader({ batchSize: 4, seed: 7, batchesPerEpoch: 5 });
    for (let epoch = 0; epoch < 2; epoch++) assert.deepEqual(pass(diskLoader), pass(memLoader), `epoch ${epoch}`);
    assert.deepEqual(pass(disk.val.fixedLoader({ batchSize: 3, batches: 4 })), pass(mem.val.fixedLoader({ batchSize: 3, batches: 4 })));
    assert.equal(disk.train.bufferBytes, context + 1, "one window of uint8 tokens");
  }
  assert.throws(() => disk0().get(disk0().length), /TokenFileDataset\(train\): index \d+ is out of range/);
  assert.throws(() => new TokenFileDataset(file, file.count), /TokenFileDataset\(tokens\): \d+ tokens of .* are too few for one window of context/);
  assert.throws(() => new TokenFileDataset(file, 4, { begin: 10, end: file.count + 1 }), /range \[10, \d+\) is not inside the \d+ tokens/);
  assert.throws(
    () => TokenFileDataset.split(file, { context: 4, trainFraction: 1 }),
    /TokenFileDataset\.split: trainFraction must be a number strictly between 0 and 1, got 1/,
  );
  function disk0(): TokenFileDataset {
    return TokenFileDataset.split(file, { context: 8 }).train;
  }
});

/** Writes a uint8 token file of `mib` MiB of ids from a vocabulary of 200, in 1 MiB chunks. */
function bigTokenFile(name: string, mib: number): string {
  const path = join(tmp, name);
  const tokenizer = new CharTokenizer(Array.from({ length: 200 }, (_, i) => 0x100 + i));
  const w = new TokenFileWriter(path, tokenizer);
  const chunk = Int32Array.from({ length: 1 << 20 }, (_, i) => (i * 7 + (i >> 9)) % 200);
  for (let i = 0; i < mib; i++) w.append(chunk);
  w.close();
  return path;
}

/**
 * Reads every token of a file through TokenFileDataset windows (non-overlapping starts), in a
 * fresh process, and prints the peak rise of its resident memory over the baseline taken
 * after opening, and the dataset's buffer bytes. Mode "hold" first reads the whole file into
 * memory: the positive control, proving the measurement sees a dataset that grows with the file.
 */
const CHILD = `
import { readFileSync } from "node:fs";
const { TokenFile } = await import(process.argv[1]);
const { TokenFileDataset } = await import(process.argv[2]);
const [path, mode] = process.argv.slice(3);
const ds = new TokenFileDataset(TokenFile.open(path), 512);
globalThis.gc();
const base = process.memoryUsage().rss;
let peak = base, sum = 0;
const held = mode === "hold" ? readFileSync(path) : null;
for (let start = 0, n = 0; start < ds.length; start += 512, n++) {
  sum += ds.get(start).y[511];
  if ((n & 255) === 0) peak = Math.max(peak, process.memoryUsage().rss);
}
peak = Math.max(peak, process.memoryUsage().rss);
console.log(JSON.stringify({ rise: peak - base, bufferBytes: ds.bufferBytes, sum, held: held?.length ?? 0 }));
`;

function measure(path: string, mode: "windows" | "hold"): { rise: number; bufferBytes: number } {
  const dist = join(repoRoot(), "dist", "src", "data");
  const r = spawnSync(
    process.execPath,
    ["--expose-gc", "--max-semi-space-size=1", "--input-type=module", "-e", CHILD, join(dist, "token_file.js"), join(dist, "token_dataset.js"), path, mode],
    { encoding: "utf8", timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test("reading a token file window by window keeps resident memory flat: a 64 MiB file costs no more than a 4 MiB one", () => {
  const small = bigTokenFile("small.tokens", 4);
  const large = bigTokenFile("large.tokens", 64);
  assert.equal(statSync(large).size - statSync(small).size, 60 << 20);
  const a = measure(small, "windows");
  const b = measure(large, "windows");
  const MiB = 1 << 20;
  assert.equal(a.bufferBytes, 513, "one window of 512 + 1 uint8 tokens");
  assert.equal(b.bufferBytes, a.bufferBytes, "the read buffer does not depend on the file's size");
  // Holding the large file would add 60 MiB; allow a third of that for allocator and GC noise.
  assert.ok(b.rise - a.rise < 20 * MiB, `64 MiB file: RSS rose ${(b.rise / MiB).toFixed(1)} MiB, 4 MiB file: ${(a.rise / MiB).toFixed(1)} MiB`);
  assert.ok(b.rise < 40 * MiB, `64 MiB file: RSS rose ${(b.rise / MiB).toFixed(1)} MiB`);
  const held = measure(large, "hold");
  assert.ok(held.rise - a.rise > 50 * MiB, `the control that holds the file rose ${(held.rise / MiB).toFixed(1)} MiB: the measurement must see it`);
});
