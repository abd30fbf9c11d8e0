import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { cacheDir, readCached, writeCached } from "../../src/data/cache.js";
import { loadTextCorpus } from "../../src/data/corpus.js";
import { loadKjv } from "../../src/data/kjv.js";

// What Python reads from `bible -f Gen1:1-Rev22:21`: the reference for extraction, vocabulary and split.
const PY_KJV = `
import hashlib, json, subprocess
out = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True, check=True).stdout
t = out.decode("utf-8")
at = int(0.9 * len(t))
print(json.dumps({
    "bytes": len(out), "sha256": hashlib.sha256(out).hexdigest(), "length": len(t),
    "vocabulary": [ord(c) for c in sorted(set(t))], "split": at, "valHead": t[at:at + 200], "trainTail": t[at - 200:at],
    "lines": t.count("\\n"), "firstLine": t[:t.index("\\n")], "lastLine": t.rstrip("\\n").rsplit("\\n", 1)[1],
}))
`;
const ref = JSON.parse(execFileSync("/usr/bin/python3", ["-c", PY_KJV], { encoding: "utf8" })) as {
  bytes: number;
  sha256: string;
  length: number;
  vocabulary: number[];
  split: number;
  valHead: string;
  trainTail: string;
  lines: number;
  firstLine: string;
  lastLine: string;
};

const tmp = mkdtempSync(join(tmpdir(), "turbine-kjv-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const SOURCE = "bible -f Gen1:1-Rev22:21";
const sha256 = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex");

test("the extracted text is exactly what Python reads from bible -f, and is cached with its checksum", () => {
  const dir = join(tmp, "fresh");
  const text = loadKjv({ cacheDir: dir });
  assert.equal(Buffer.byteLength(text), ref.bytes);
  assert.equal(sha256(text), ref.sha256);
  assert.equal(text.length, ref.length);
  assert.ok(ref.bytes > 4_000_000 && ref.bytes < 5_000_000, `about 4.4 MB, as the design says (got ${ref.bytes})`);
  assert.match(ref.firstLine, /^Ge1:1 In the beginning God created the heaven and the earth\.$/);
  assert.match(ref.lastLine, /^Rev22:21 The grace of our Lord Jesus Christ be with you all\. Amen\.$/);
  const path = join(dir, "kjv.txt");
  assert.equal(sha256(readFileSync(path)), ref.sha256);
  assert.deepEqual(JSON.parse(readFileSync(`${path}.json`, "utf8")), { source: SOURCE, bytes: ref.bytes, sha256: ref.sha256 });
  assert.equal(readCached(path, SOURCE)?.length, ref.bytes);
  assert.equal(readCached(path, "bible -f Gen1:1-Gen1:2"), null, "a cache made by another command is not reused");
});

test("a whole cache is reused and a damaged one is extracted again", () => {
  const dir = join(tmp, "reuse");
  const path = join(dir, "kjv.txt");
  // A whole cache with other contents proves loadKjv reads the cache instead of running bible.
  writeCached(path, Buffer.from("Ge1:1 cached\n"), SOURCE);
  assert.equal(loadKjv({ cacheDir: dir }), "Ge1:1 cached\n");

  const damage: [string, () => void][] = [
    ["truncated text", () => truncateSync(path, 1000)],
    ["altered byte", () => writeFileSync(path, Buffer.from(readFileSync(path)).fill(0x41, 5000, 5001))],
    ["missing sidecar", () => rmSync(`${path}.json`)],
    ["garbled sidecar", () => writeFileSync(`${path}.json`, "{ not json")],
    ["missing text", () => rmSync(path)],
  ];
  for (const [name, spoil] of damage) {
    writeCached(path, Buffer.from(loadKjv({ cacheDir: dir })), SOURCE);
    spoil();
    assert.equal(readCached(path, SOURCE), null, `${name} is noticed`);
    assert.equal(sha256(loadKjv({ cacheDir: dir })), ref.sha256, `${name} is rebuilt`);
    assert.equal(sha256(readFileSync(path)), ref.sha256, `${name}: the cache is whole again`);
  }
});

test("the default corpus is cached in the cache folder, $TURBINE_CACHE when set (see cache_dir.test for the rest)", () => {
  const saved = process.env.TURBINE_CACHE;
  try {
    process.env.TURBINE_CACHE = join(tmp, "env");
    assert.equal(cacheDir(), join(tmp, "env"));
    assert.equal(cacheDir(join(tmp, "given")), join(tmp, "given"), "an explicit folder wins");
    const corpus = loadTextCorpus();
    assert.ok(existsSync(join(tmp, "env", "kjv.txt")), "the default corpus is cached under $TURBINE_CACHE");
    // The corpus facts, against Python's reading of the same text.
    assert.equal(corpus.text.length, ref.length);
    assert.deepEqual([...corpus.tokenizer.codePoints], ref.vocabulary);
    assert.equal(corpus.tokenizer.vocabSize, ref.vocabulary.length);
    assert.equal(corpus.tokens.length, ref.length);
    assert.equal(corpus.train.tokens.length, ref.split);
    assert.equal(corpus.val.tokens.length, ref.length - ref.split);
    assert.equal(corpus.tokenizer.decode(corpus.train.tokens.subarray(ref.split - 200)), ref.trainTail);
    assert.equal(corpus.tokenizer.decode(corpus.val.tokens.subarray(0, 200)), ref.valHead);
    assert.equal(corpus.train.context, 128);
    assert.equal(corpus.train.length, ref.split - 128);
  } finally {
    if (saved === undefined) delete process.env.TURBINE_CACHE;
    else process.env.TURBINE_CACHE = saved;
  }
});

/** A stand-in for `bible`: a shell script with the given body. */
function fakeBible(name: string, body: string): string {
  const path = join(tmp, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

test("extraction failures are errors saying what went wrong", () => {
  const run = (name: string, body: string | null, timeoutMs?: number) =>
    loadKjv({ cacheDir: join(tmp, `fail-${name}`), executable: body === null ? join(tmp, "no-such-bible") : fakeBible(name, body), timeoutMs });
  assert.throws(() => run("missing", null), /KJV: the `.*no-such-bible` program was not found; install it with `apt-get install bible-kjv`/);
  assert.throws(() => run("slow", "sleep 5", 200), /KJV: `bible -f Gen1:1-Rev22:21` did not finish within 200 ms/);
  assert.throws(() => run("failing", "echo 'no data file' >&2; exit 3"), /KJV: `bible -f Gen1:1-Rev22:21` exited with status 3: no data file/);
  assert.throws(
    () => run("partial", "echo 'Ge1:1 In the beginning'; echo 'Ge1:2 And'"),
    /printed 33 bytes that do not run from Ge1:1 to Rev22:21; is the bible-kjv data intact\?/,
  );
  assert.throws(() => run("binary", "printf 'Ge1:1 \\377\\n'"), /printed 8 bytes that are not valid UTF-8/);
  assert.equal(existsSync(join(tmp, "fail-partial", "kjv.txt")), false, "nothing is cached after a failure");
  assert.equal(run("whole", "echo 'Ge1:1 In'; echo 'Rev22:21 Amen.'"), "Ge1:1 In\nRev22:21 Amen.\n");
});
