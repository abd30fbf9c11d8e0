import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";

import { cachedArrays, type ArrayCacheKey, type ArrayRecord } from "../../src/data/array_cache.js";
import { FashionMNIST } from "../../src/data/fashion_mnist.js";

const tmp = mkdtempSync(join(tmpdir(), "turbine-arrcache-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A cache folder and a source file of its own per test, and a decoder that counts its runs. */
function setup(name: string) {
  const dir = join(tmp, name, "cache");
  const source = join(tmp, name, "source.bin");
  mkdirSync(join(tmp, name));
  writeFileSync(source, Buffer.from([1, 2, 3, 4, 5]));
  const warnings: string[] = [];
  let decodes = 0;
  const decoder = { name: "test/scale", version: 1, params: { factor: 2 } };
  const decode = (): ArrayRecord => {
    decodes++;
    const bytes = readFileSync(source);
    return { scaled: Float32Array.from(bytes, (b) => b * decoder.params.factor), raw: new Uint8Array(bytes), ids: Int32Array.of(-1, 7) };
  };
  const load = (key: Partial<ArrayCacheKey> = {}) =>
    cachedArrays("test", { sources: [source], decoder, ...key }, decode, { dir, warn: (line) => warnings.push(line) });
  const cacheFile = () => {
    const files = readdirSync(dir);
    assert.equal(files.length, 1, `one cache file: ${files.join(", ")}`);
    return join(dir, files[0]!);
  };
  return { dir, source, warnings, load, cacheFile, decodes: () => decodes, decoder };
}

test("a second load reads the arrays back from disk, bit for bit, with their types", () => {
  const s = setup("roundtrip");
  const first = s.load();
  assert.equal(first.hit, false);
  const second = s.load();
  assert.equal(second.hit, true);
  assert.equal(s.decodes(), 1);
  assert.ok(second.arrays.scaled instanceof Float32Array && second.arrays.raw instanceof Uint8Array && second.arrays.ids instanceof Int32Array);
  assert.deepEqual([...second.arrays.scaled!], [2, 4, 6, 8, 10]);
  assert.deepEqual([...second.arrays.raw!], [1, 2, 3, 4, 5]);
  assert.deepEqual([...second.arrays.ids!], [-1, 7]);
  assert.match(s.cacheFile(), /[/\\]test-[0-9a-f]{16}\.bin$/);
  assert.deepEqual(s.warnings, []);
});

test("a changed source, or a new decoder version or parameter, rebuilds the entry in place without a warning", () => {
  const s = setup("invalidate");
  s.load();
  const path = s.cacheFile();
  writeFileSync(s.source, Buffer.from([9, 9, 9, 9, 9])); // same size: only the mtime tells
  utimesSync(s.source, new Date(), new Date(Date.now() + 5000));
  const changed = s.load();
  assert.equal(changed.hit, false, "a changed source is a miss");
  assert.deepEqual([...changed.arrays.raw!], [9, 9, 9, 9, 9]);
  assert.equal(s.load().hit, true);
  assert.equal(s.load({ decoder: { ...s.decoder, version: 2 } }).hit, false, "a new decoder version is a miss");
  assert.equal(s.load({ decoder: { ...s.decoder, version: 2 } }).hit, true);
  assert.equal(s.load({ decoder: { ...s.decoder, version: 2, params: { factor: 3 } } }).hit, false, "new decoder parameters are a miss");
  assert.equal(s.cacheFile(), path, "stale entries are overwritten, not accumulated");
  assert.equal(s.decodes(), 4);
  assert.deepEqual(s.warnings, []);
});

test("a truncated, padded or altered cache file is rebuilt with a warning, never used", () => {
  const s = setup("corrupt");
  s.load();
  const path = s.cacheFile();
  const whole = readFileSync(path);
  const damage: [string, () => void, RegExp][] = [
    ["truncated", () => truncateSync(path, whole.length - 10), /truncated or padded: \d+ bytes, the header announces \d+/],
    ["padded", () => writeFileSync(path, Buffer.concat([whole, Buffer.of(0)])), /truncated or padded/],
    [
      "payload bit",
      () => {
        const b = Buffer.from(whole);
        b[b.length - 64]! ^= 4;
        writeFileSync(path, b);
      },
      /checksum mismatch/,
    ],
    ["empty", () => writeFileSync(path, ""), /bad magic or shorter than the 64-byte header/],
    [
      "header",
      () => {
        const b = Buffer.from(whole);
        b.write("}", 64);
        writeFileSync(path, b);
      },
      /the header is not valid JSON/,
    ],
  ];
  for (const [name, spoil, reason] of damage) {
    spoil();
    s.warnings.length = 0;
    const r = s.load();
    assert.equal(r.hit, false, name);
    assert.deepEqual([...r.arrays.scaled!], [2, 4, 6, 8, 10], name);
    assert.equal(s.warnings.length, 1, name);
    assert.ok(s.warnings[0]!.startsWith(`${path}: damaged cache file (`), s.warnings[0]);
    assert.match(s.warnings[0]!, reason, name);
    assert.match(s.warnings[0]!, /rebuilding it$/);
    assert.deepEqual(readFileSync(path), whole, `${name}: rebuilt whole`);
    assert.equal(s.load().hit, true, name);
  }
  assert.deepEqual(
    readdirSync(s.dir).filter((f) => f.endsWith(".tmp")),
    [],
    "atomic writes leave no temporary file",
  );
  const blocked = join(tmp, "corrupt", "a-file");
  writeFileSync(blocked, "");
  const unwritable: string[] = [];
  const r = cachedArrays("test", { sources: [s.source], decoder: s.decoder }, () => ({ one: Uint8Array.of(1) }), {
    dir: join(blocked, "cache"),
    warn: (l) => unwritable.push(l),
  });
  assert.deepEqual([...r.arrays.one!], [1], "an unwritable cache still gives the decoded arrays");
  assert.equal(unwritable.length, 1);
  assert.match(unwritable[0]!, /a-file\/cache\/test-[0-9a-f]{16}\.bin: cannot write the cache file \((ENOTDIR|EEXIST).*\); continuing without the disk cache$/);
  assert.throws(() => cachedArrays("a/b", { sources: [], decoder: s.decoder }, () => ({})), /cachedArrays: name "a\/b" must be letters, digits/);
});

const idx = (magic: number, dims: number[], data: Uint8Array): Buffer => {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return gzipSync(Buffer.concat([header, data]));
};

test("Fashion-MNIST with cache 'disk' decodes once across processes, notices changed files and rebuilds a damaged cache", () => {
  const root = join(tmp, "fashion");
  const cacheDir = join(tmp, "fashion-cache");
  mkdirSync(root);
  const write = (count: number, seed: number) => {
    writeFileSync(
      join(root, "train-images-idx3-ubyte.gz"),
      idx(
        0x803,
        [count, 28, 28],
        Uint8Array.from({ length: count * 784 }, (_, i) => (i * seed) % 256),
      ),
    );
    writeFileSync(
      join(root, "train-labels-idx1-ubyte.gz"),
      idx(
        0x801,
        [count],
        Uint8Array.from({ length: count }, (_, i) => (i + seed) % 10),
      ),
    );
  };
  write(3, 1);
  const warnings: string[] = [];
  const load = (cache: "disk" | "none") => {
    FashionMNIST.clearCache(); // as a new process would start
    return FashionMNIST.load({ split: "train", root, cache, cacheDir, warn: (line) => warnings.push(line) });
  };
  const decoded = load("none");
  const first = load("disk");
  const [file] = readdirSync(cacheDir);
  assert.match(file!, /^fashion-mnist-train-[0-9a-f]{16}\.bin$/);
  const stamp = statSync(join(cacheDir, file!)).mtimeMs;
  const fromDisk = load("disk");
  assert.equal(statSync(join(cacheDir, file!)).mtimeMs, stamp, "a hit does not rewrite the cache");
  for (const ds of [first, fromDisk]) {
    assert.deepEqual([...ds.get(2).image], [...decoded.get(2).image]);
    assert.deepEqual([...ds.labels], [...decoded.labels]);
    assert.deepEqual([...ds.images], [...decoded.images]);
  }
  const header = readFileSync(join(cacheDir, file!)).subarray(64, 600).toString("utf8");
  assert.match(
    header,
    /"decoder":\{"name":"fashion-mnist\/idx-normalise","version":1,"params":\{"mean":0\.286,"std":0\.353\}\}/,
    "the decoder's identity is part of the key",
  );
  write(4, 5);
  const changed = load("disk");
  assert.equal(changed.length, 4, "changed source files are decoded again");
  assert.deepEqual([...changed.labels], [5, 6, 7, 8]);
  truncateSync(join(cacheDir, file!), 100);
  const rebuilt = load("disk");
  assert.equal(rebuilt.length, 4);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /fashion-mnist-train-[0-9a-f]{16}\.bin: damaged cache file \(truncated or padded/);
  assert.throws(() => FashionMNIST.load({ split: "train", root, cache: "ram" as never }), /FashionMNIST: cache must be "memory", "disk" or "none", got "ram"/);
});
