import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { PrepareInterrupted, prepareTokenFile } from "../../src/data/prepare.js";
import { TokenFile, TokenFileError, TokenFileWriter, bytesPerToken, tokenDType } from "../../src/data/token_file.js";
import { CharTokenizer } from "../../src/data/tokenizer.js";

const tmp = mkdtempSync(join(tmpdir(), "turbine-tokfile-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Multi-byte UTF-8 (é: 2 bytes, ∑: 3, emoji: 4) so small chunks split characters across reads. */
const TEXT = "In the beginning é∑ was 🙂 the word.\nAnd the word was with 🙂 God ∑é.\n".repeat(7);

function prepared(name: string, text = TEXT, chunkBytes?: number): string {
  const src = join(tmp, `${name}.txt`);
  const out = join(tmp, `${name}.tokens`);
  writeFileSync(src, text);
  prepareTokenFile(src, out, chunkBytes === undefined ? {} : { chunkBytes });
  return out;
}

/** All the tokens of a file, read back. */
function readAll(file: TokenFile): number[] {
  const ids = new Int32Array(file.count);
  file.read(0, ids, Buffer.alloc(file.count * file.bytesPerToken));
  return [...ids];
}

test("prepare writes the text's character tokens, whatever the read size splitting multi-byte characters", () => {
  const tokenizer = CharTokenizer.fromText(TEXT);
  const expected = [...tokenizer.encode(TEXT)];
  for (const chunkBytes of [4, 5, 7, 64, undefined]) {
    const file = TokenFile.open(prepared(`chunks-${chunkBytes}`, TEXT, chunkBytes));
    assert.deepEqual(file.tokenizer.codePoints, tokenizer.codePoints, `chunkBytes ${chunkBytes}`);
    assert.equal(file.count, expected.length);
    assert.equal(file.dtype, "uint8");
    assert.deepEqual(readAll(file), expected, `chunkBytes ${chunkBytes}`);
    file.close();
  }
  assert.equal(TokenFile.open(prepared("bom", `\ufeff${TEXT}`)).count, expected.length, "a byte-order mark is dropped, as readTextFile does");
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.endsWith(".tmp")),
    [],
    "no temporary file is left behind",
  );
});

test("the token dtype is the smallest that fits the vocabulary", () => {
  assert.deepEqual([1, 256, 257, 65536, 65537].map(bytesPerToken), [1, 1, 2, 2, 4]);
  assert.deepEqual([256, 257, 70000].map(tokenDType), ["uint8", "uint16", "uint32"]);
  const wide = Array.from({ length: 300 }, (_, i) => String.fromCodePoint(0x4e00 + i)).join("");
  const file = TokenFile.open(prepared("wide", wide + wide));
  assert.equal(file.dtype, "uint16");
  assert.equal(file.tokenizer.vocabSize, 300);
  const ids = readAll(file);
  assert.deepEqual(ids.slice(298, 302), [298, 299, 0, 1]);
  const tokenizer = new CharTokenizer(Array.from({ length: 70000 }, (_, i) => 0x20000 + i));
  const path = join(tmp, "u32.tokens");
  const w = new TokenFileWriter(path, tokenizer);
  w.append(Int32Array.of(0, 69999, 65536));
  assert.equal(w.close(), 3);
  const big = TokenFile.open(path);
  assert.equal(big.dtype, "uint32");
  assert.deepEqual(readAll(big), [0, 69999, 65536]);
});

test("a damaged or foreign token file is refused with an error naming the file and the problem", () => {
  const good = readFileSync(prepared("good"));
  const variant = (name: string, bytes: Buffer): string => {
    const path = join(tmp, `${name}.tokens`);
    writeFileSync(path, bytes);
    return path;
  };
  const flipped = (at: number): Buffer => {
    const b = Buffer.from(good);
    b[at]! ^= 0x01;
    return b;
  };
  const cases: [string, Buffer, RegExp][] = [
    [
      "text",
      Buffer.from("just some text, not tokens"),
      /text\.tokens: bad magic "just som", expected "TURBTOKN": not a token file \(make one with `turbine data prepare`\)/,
    ],
    ["empty", Buffer.alloc(0), /empty\.tokens: bad magic "", expected "TURBTOKN"/],
    ["short-header", good.subarray(0, 40), /short-header\.tokens: truncated: 40 bytes is shorter than the 64-byte header/],
    [
      "truncated",
      good.subarray(0, good.length - 3),
      new RegExp(
        `truncated\\.tokens: truncated: the header announces ${[...TEXT].length} uint8 tokens \\(${good.length} bytes in all\\), but the file holds ${good.length - 3} bytes`,
      ),
    ],
    ["padded", Buffer.concat([good, Buffer.of(1, 2)]), /padded\.tokens: 2 unexpected bytes after the \d+ tokens the header announces/],
    ["count-flipped", flipped(16), /count-flipped\.tokens: header checksum mismatch: the header or vocabulary is corrupt/],
    ["vocab-flipped", flipped(70), /vocab-flipped\.tokens: header checksum mismatch/],
    [
      "version",
      (() => {
        const b = Buffer.from(good);
        b.writeUInt32LE(9, 8);
        return b;
      })(),
      /version\.tokens: format version 9 is not supported \(this turbine reads version 1\)/,
    ],
  ];
  for (const [name, bytes, message] of cases) {
    assert.throws(
      () => TokenFile.open(variant(name, bytes)),
      (err: Error) => err instanceof TokenFileError && message.test(err.message),
      name,
    );
  }
  assert.throws(() => TokenFile.open(join(tmp, "nope.tokens")), /nope\.tokens: no such token file/);
  // An id outside the vocabulary in the body (not covered by the header checksum) is caught on read.
  const body = Buffer.from(good);
  body[body.length - 1] = 250;
  const file = TokenFile.open(variant("bad-id", body));
  const at = file.count - 1;
  assert.throws(
    () => readAll(file),
    new RegExp(`bad-id\\.tokens: token ${at} has id 250, outside the vocabulary of ${file.tokenizer.vocabSize}; the file is corrupt`),
  );
  assert.throws(() => file.read(file.count - 2, new Int32Array(3), Buffer.alloc(3)), /tokens \[\d+, \d+\) are outside the \d+ tokens of/);
  file.close();
  assert.throws(() => file.read(0, new Int32Array(1), Buffer.alloc(1)), /the token file is closed/);
});

test("prepare names a missing input, an unwritable output, invalid UTF-8 and an empty text", () => {
  assert.throws(() => prepareTokenFile(join(tmp, "missing.txt"), join(tmp, "x.tokens")), /missing\.txt: no such text file/);
  const src = join(tmp, "ok.txt");
  writeFileSync(src, "abc");
  assert.throws(() => prepareTokenFile(src, join(src, "under-a-file.tokens")), /under-a-file\.tokens: cannot write the token file \(ENOTDIR/);
  assert.throws(() => prepareTokenFile(src, join(tmp, "no-dir", "x.tokens")), /no-dir\/x\.tokens: cannot write the token file \(ENOENT/);
  const bad = join(tmp, "bad.txt");
  writeFileSync(bad, Buffer.from([0x61, 0xff, 0x62]));
  assert.throws(() => prepareTokenFile(bad, join(tmp, "bad.tokens")), /bad\.txt: is not valid UTF-8 text \(in bytes 0\.\.3\)/);
  const empty = join(tmp, "empty.txt");
  writeFileSync(empty, "");
  assert.throws(() => prepareTokenFile(empty, join(tmp, "empty.tokens")), /empty\.txt: the text is empty; there is nothing to tokenize/);
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.endsWith(".tmp")),
    [],
    "failed writes leave no temporary file",
  );
  const w = new TokenFileWriter(join(tmp, "aborted.tokens"), CharTokenizer.fromText("ab"));
  assert.throws(() => w.append(Int32Array.of(0, 2)), /TokenFileWriter: id 2 at token 1 is outside the vocabulary \[0, 2\)/);
  w.abort();
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.startsWith("aborted")),
    [],
    "an aborted write leaves nothing",
  );
});

test("a stop requested during prepare ends it after the chunk in hand, in either pass, leaving no output and no temporary file", () => {
  const src = join(tmp, "stopped.txt");
  writeFileSync(src, TEXT);
  const chunks = Math.ceil(Buffer.byteLength(TEXT) / 64);
  // The first pass reads `chunks` chunks; a stop at chunk 3 of the first or of the second.
  for (const at of [3, chunks + 3]) {
    let polls = 0;
    const out = join(tmp, `stopped-${at}.tokens`);
    assert.throws(
      () => prepareTokenFile(src, out, { chunkBytes: 64, stopRequested: () => (++polls === at ? "SIGTERM" : null) }),
      (e: unknown) => e instanceof PrepareInterrupted && e.reason === "SIGTERM",
    );
    assert.equal(polls, at, "stopped at the first poll that asked");
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.startsWith(`stopped-${at}`)),
      [],
      "nothing written",
    );
  }
});
