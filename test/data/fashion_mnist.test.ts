import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";

import { BatchMaker, type SampleError } from "../../src/data/batch_maker.js";
import { DataLoader } from "../../src/data/dataloader.js";
import { labelledLayout } from "../../src/data/layout.js";
import { FashionMNIST } from "../../src/data/fashion_mnist.js";

// What Python's gzip and struct read from the installed files: the reference for the loader.
const PY_READER = `
import gzip, json, struct, sys
out = {}
for split, prefix in (("train", "train"), ("test", "t10k")):
    with gzip.open(f"{sys.argv[1]}/{prefix}-images-idx3-ubyte.gz") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        pixels = f.read()
    with gzip.open(f"{sys.argv[1]}/{prefix}-labels-idx1-ubyte.gz") as f:
        lmagic, ln = struct.unpack(">II", f.read(8))
        labels = f.read()
    size = rows * cols
    out[split] = {
        "magic": [magic, lmagic], "count": [n, ln], "side": [rows, cols],
        "histogram": [labels.count(bytes([c])) for c in range(10)],
        "firstLabels": list(labels[:5]), "lastLabel": labels[-1],
        "firstImage": list(pixels[:size]), "lastImage": list(pixels[-size:]), "pixelSum": sum(pixels),
    }
print(json.dumps(out))
`;

interface Reference {
  magic: number[];
  count: number[];
  side: number[];
  histogram: number[];
  firstLabels: number[];
  lastLabel: number;
  firstImage: number[];
  lastImage: number[];
  pixelSum: number;
}
const reference = JSON.parse(execFileSync("/usr/bin/python3", ["-c", PY_READER, FashionMNIST.defaultRoot], { encoding: "utf8", maxBuffer: 1 << 24 })) as Record<
  "train" | "test",
  Reference
>;

const tmp = mkdtempSync(join(tmpdir(), "turbine-fmnist-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const normalise = (byte: number): number => (byte / 255 - 0.286) / 0.353;

function assertImage(image: Float32Array, bytes: number[]): void {
  assert.equal(image.length, 784);
  for (let i = 0; i < 784; i++) {
    if (Math.abs(image[i]! - normalise(bytes[i]!)) > 1e-6) assert.fail(`pixel ${i}: ${image[i]} is not normalise(${bytes[i]})`);
  }
}

for (const split of ["train", "test"] as const) {
  test(`the installed ${split} split matches what Python reads from the files`, () => {
    const ref = reference[split];
    assert.deepEqual(ref.magic, [0x803, 0x801]);
    assert.deepEqual(ref.side, [28, 28]);
    const ds = FashionMNIST.load({ split });
    assert.equal(ds.length, split === "train" ? 60000 : 10000);
    assert.deepEqual(ref.count, [ds.length, ds.length]);
    assert.deepEqual([...ds.sampleShape], [1, 28, 28]);
    const histogram = new Array<number>(10).fill(0);
    for (const label of ds.labels) histogram[label]!++;
    assert.deepEqual(histogram, ref.histogram);
    assert.equal(
      histogram.reduce((a, b) => a + b),
      ds.length,
    );
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((i) => ds.get(i).label),
      ref.firstLabels,
    );
    assert.equal(ds.get(ds.length - 1).label, ref.lastLabel);
    assertImage(ds.get(0).image, ref.firstImage);
    assertImage(ds.get(ds.length - 1).image, ref.lastImage);
    assert.equal(
      ds.images.reduce((a, b) => a + b, 0),
      ref.pixelSum,
    );
    assert.strictEqual(FashionMNIST.load({ split }), ds, "decoded once per process");
  });
}

test("the first training sample is an ankle boot (label 9), as Python reads it", () => {
  const train = FashionMNIST.load({ split: "train" });
  assert.equal(reference.train.firstLabels[0], 9);
  assert.equal(train.get(0).label, 9);
  assert.equal(FashionMNIST.classes[train.get(0).label], "Ankle boot");
  assert.throws(() => train.get(60000), /FashionMNIST\(train\): index 60000 is out of range for a dataset of 60000 samples/);
});

test("a DataLoader over the test split gives [B, 1, 28, 28] batches in file order", () => {
  const testSet = FashionMNIST.load({ split: "test" });
  const loader = new DataLoader(testSet, { batchSize: 128 });
  assert.equal(loader.length, 79);
  assert.equal(new DataLoader(testSet, { batchSize: 128, dropLast: true }).length, 78);
  let batches = 0;
  let labelled = 0;
  for (const { x, y } of loader) {
    if (batches === 0) {
      assert.deepEqual([...x.shape], [128, 1, 28, 28]);
      assertImage((x.data as Float32Array).subarray(0, 784), reference.test.firstImage);
      assert.deepEqual(y.toArray().slice(0, 5), reference.test.firstLabels);
    }
    if (batches === 78) assert.deepEqual([...x.shape], [16, 1, 28, 28]);
    batches++;
    labelled += y.size;
    x.dispose();
    y.dispose();
  }
  assert.equal(batches, 79);
  assert.equal(labelled, 10000);
});

// ---- Corrupt and missing files, written to a temporary folder ----

test("gather writes the batch that filling sample by sample writes; a bad index is still named", () => {
  const train = FashionMNIST.load({ split: "train" });
  const indices = Int32Array.of(5, 59999, 0, 1234, 5);
  const x = new Float32Array(indices.length * 784),
    y = new Int32Array(indices.length);
  train.gather(indices, x, y);
  assert.deepEqual(
    Array.from(x),
    Array.from(indices).flatMap((i) => Array.from(train.get(i).image)),
  );
  assert.deepEqual(
    Array.from(y),
    Array.from(indices, (i) => train.get(i).label),
  );
  const maker = new BatchMaker(train, undefined, 0);
  const job = { epoch: 0, batch: 2, first: 8, indices: Int32Array.of(3, 60000) };
  assert.throws(
    () => maker.fill(labelledLayout([1, 28, 28]), job, new Float32Array(2 * 784), new Int32Array(2)),
    (err: SampleError) => err.index === 60000 && /dataset index 60000 \(sample 1 of batch 2, epoch 0\)/.test(err.message),
  );
});

const IMAGES = "train-images-idx3-ubyte.gz";
const LABELS = "train-labels-idx1-ubyte.gz";

function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

interface Files {
  images?: Buffer;
  labels?: Buffer;
}

/** A folder holding a valid 3-sample train split, with some files replaced (gzipped unless raw). */
function folder(name: string, replace: Files = {}, raw = false): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const pixels = Uint8Array.from({ length: 3 * 784 }, (_, i) => i % 256);
  const images = replace.images ?? idx(0x803, [3, 28, 28], pixels);
  const labels = replace.labels ?? idx(0x801, [3], Uint8Array.of(9, 0, 3));
  writeFileSync(join(dir, IMAGES), raw && replace.images ? images : gzipSync(images));
  writeFileSync(join(dir, LABELS), raw && replace.labels ? labels : gzipSync(labels));
  return dir;
}

const load = (root: string) => FashionMNIST.load({ split: "train", root });

test("a valid small split loads and normalises its bytes", () => {
  const ds = load(folder("valid"));
  assert.equal(ds.length, 3);
  assert.deepEqual(
    [0, 1, 2].map((i) => ds.get(i).label),
    [9, 0, 3],
  );
  const image = ds.get(1).image; // bytes 784..1567, i.e. (784 + k) % 256
  assert.ok(Math.abs(image[0]! - normalise(784 % 256)) < 1e-6);
  assert.ok(Math.abs(image[255 - 16]! - normalise(255)) < 1e-6);
});

test("corrupt files are errors naming the file and what is wrong", () => {
  const pixels = new Uint8Array(3 * 784);
  const cases: [string, Files, RegExp, boolean?][] = [
    ["bad-magic", { images: idx(0x801, [3, 28, 28], pixels) }, /train-images-idx3-ubyte\.gz: bad magic number 0x00000801, expected 0x00000803/],
    ["truncated", { images: idx(0x803, [3, 28, 28], pixels.subarray(1)) }, /train-images-idx3-ubyte\.gz: expected 2368 bytes after decompression .*, got 2367/],
    ["padded", { labels: idx(0x801, [3], Uint8Array.of(1, 2, 3, 0)) }, /train-labels-idx1-ubyte\.gz: expected 11 bytes after decompression .*, got 12/],
    [
      "count-mismatch",
      { labels: idx(0x801, [2], Uint8Array.of(1, 2)) },
      /train-labels-idx1-ubyte\.gz: holds 2 labels, but .*train-images-idx3-ubyte\.gz holds 3 images/,
    ],
    ["not-gzip", { images: idx(0x803, [3, 28, 28], pixels) }, /train-images-idx3-ubyte\.gz: not a valid gzip file/, true],
    ["cut-gzip", { labels: gzipSync(idx(0x801, [3], Uint8Array.of(1, 2, 3))).subarray(0, 15) }, /train-labels-idx1-ubyte\.gz: not a valid gzip file/, true],
    ["label-12", { labels: idx(0x801, [3], Uint8Array.of(1, 12, 3)) }, /train-labels-idx1-ubyte\.gz: label 12 at index 1 is outside 0\.\.9/],
    ["wrong-size", { images: idx(0x803, [3, 27, 28], new Uint8Array(3 * 27 * 28)) }, /train-images-idx3-ubyte\.gz: images are 27×28, expected 28×28/],
    ["short-header", { labels: Buffer.of(0, 0, 8) }, /train-labels-idx1-ubyte\.gz: 3 bytes after decompression is shorter than the 8-byte IDX header/],
  ];
  for (const [name, files, message, raw] of cases) {
    assert.throws(() => load(folder(name, files, raw)), message, name);
  }
});

test("a missing file or folder names the file and the package to install", () => {
  const dir = folder("missing-labels");
  rmSync(join(dir, LABELS));
  assert.throws(() => load(dir), /FashionMNIST: .*train-labels-idx1-ubyte\.gz not found; install it with `apt-get install dataset-fashion-mnist`/);
  assert.throws(
    () => load(join(tmp, "no-such-folder")),
    /train-images-idx3-ubyte\.gz not found \(the folder .*no-such-folder does not exist\); install it with `apt-get install dataset-fashion-mnist`/,
  );
  assert.throws(() => FashionMNIST.load({ split: "val" as never }), /FashionMNIST: split must be "train" or "test", got "val"/);
});

test("the cache notices a changed file", () => {
  const dir = folder("changing");
  assert.equal(load(dir).length, 3);
  assert.strictEqual(load(dir), load(dir));
  writeFileSync(join(dir, IMAGES), gzipSync(idx(0x803, [2, 28, 28], new Uint8Array(2 * 784))));
  writeFileSync(join(dir, LABELS), gzipSync(idx(0x801, [2], Uint8Array.of(4, 5))));
  assert.equal(load(dir).length, 2);
  const before = load(dir);
  FashionMNIST.clearCache();
  assert.notStrictEqual(load(dir), before);
});
