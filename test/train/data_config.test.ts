import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";

import { CurriculumSampler } from "../../src/data/curriculum.js";
import { FashionMNIST } from "../../src/data/fashion_mnist.js";
import { buildRun } from "../../src/train/build.js";
import { parseConfig } from "../../src/train/config_file.js";

const tmp = mkdtempSync(join(tmpdir(), "turbine-datacfg-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const idx = (magic: number, dims: number[], data: Uint8Array): Buffer => {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return gzipSync(Buffer.concat([header, data]));
};

/** A Fashion-MNIST folder of 12 training and 4 test images; training image i has label i % 10. */
const root = join(tmp, "fashion");
mkdirSync(root);
for (const [prefix, count] of [
  ["train", 12],
  ["t10k", 4],
] as const) {
  writeFileSync(
    join(root, `${prefix}-images-idx3-ubyte.gz`),
    idx(
      0x803,
      [count, 28, 28],
      Uint8Array.from({ length: count * 784 }, (_, i) => i % 251),
    ),
  );
  writeFileSync(
    join(root, `${prefix}-labels-idx1-ubyte.gz`),
    idx(
      0x801,
      [count],
      Uint8Array.from({ length: count }, (_, i) => i % 10),
    ),
  );
}

const config = (data: Record<string, unknown>) =>
  parseConfig({ model: { kind: "mlp", hidden: [4] }, data: { kind: "fashion-mnist", root, batchSize: 2, ...data }, train: { steps: 2 } }, "test");

test("data.curriculum trains Fashion-MNIST easiest first, from a scores file", () => {
  const scores = join(tmp, "scores.json");
  // Hardest first in the file: sample i has difficulty 12 - i, so 11, 10, 9 are the easiest.
  writeFileSync(scores, JSON.stringify(Array.from({ length: 12 }, (_, i) => 12 - i)));
  const parts = buildRun(config({ curriculum: { scores, start: 0.25, steps: 3 } }));
  const sampler = parts.train.sampler as CurriculumSampler;
  assert.ok(sampler instanceof CurriculumSampler);
  assert.deepEqual(new Set(sampler.epochIndices(0)), new Set([9, 10, 11]), "epoch 0: the easiest quarter");
  assert.equal(new Set(sampler.epochIndices(1)).size, 6);
  assert.equal(parts.train.length, 6, "an epoch is still the whole training set's length");
  const perStep = buildRun(config({ curriculum: { scores, start: 0.25, steps: 3, per: "step", pacing: "root" } })).train.sampler as CurriculumSampler;
  assert.equal(perStep.batchSize, 2);
  writeFileSync(scores, JSON.stringify([1, 2, 3]));
  assert.throws(() => buildRun(config({ curriculum: { scores, steps: 3 } })), /scores\.json: holds 3 curriculum scores, but the dataset has 12 samples/);
  writeFileSync(scores, JSON.stringify([...new Array(11).fill(0), "x"]));
  assert.throws(() => buildRun(config({ curriculum: { scores, steps: 3 } })), /scores\.json: curriculum score 11 is "x", not a finite number/);
  assert.throws(() => buildRun(config({ curriculum: { scores: join(tmp, "none.json"), steps: 3 } })), /none\.json: cannot read the curriculum scores \(ENOENT/);
});

test("data.cache 'disk' stores the decoded splits in the cache folder", () => {
  const cache = join(tmp, "cache");
  const saved = process.env.TURBINE_CACHE;
  process.env.TURBINE_CACHE = cache;
  try {
    FashionMNIST.clearCache();
    buildRun(config({ cache: "disk" }));
    assert.deepEqual(
      readdirSync(cache)
        .map((f) => f.replace(/-[0-9a-f]{16}\.bin$/, ""))
        .sort(),
      ["fashion-mnist-test", "fashion-mnist-train"],
    );
  } finally {
    if (saved === undefined) delete process.env.TURBINE_CACHE;
    else process.env.TURBINE_CACHE = saved;
  }
});

test("a number JSON cannot hold (a --set value of 1e400) is named as it is, not as null", () => {
  assert.throws(
    () => parseConfig({ model: { kind: "mlp" }, data: { kind: "fashion-mnist", batchSize: Number.POSITIVE_INFINITY } }, "test"),
    /data\.batchSize: got Infinity; expected/,
  );
});
