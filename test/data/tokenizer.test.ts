import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";

import { CharTokenizer } from "../../src/data/tokenizer.js";

/** Python's view of a string: its code points, and the sorted set of them (the vocabulary). */
function pythonView(text: string): { codePoints: number[]; vocabulary: number[] } {
  const script = "import json, sys; t = sys.argv[1]; print(json.dumps({'codePoints': [ord(c) for c in t], 'vocabulary': [ord(c) for c in sorted(set(t))]}))";
  return JSON.parse(execFileSync("/usr/bin/python3", ["-c", script, text], { encoding: "utf8" })) as { codePoints: number[]; vocabulary: number[] };
}

// An emoji and a mathematical letter (astral: two UTF-16 units each), a full-width "!" (U+FF01,
// above the surrogates, so UTF-16 order and code point order disagree), "é" both precomposed
// and as e + combining acute, a stack of combining marks, CJK, a tab and CRLF.
const MIXED = "Zoë said: \u{1F600} e\u0301 é \u{1D518}！ 漢字 a\u0300\u0316\u0358\tend\r\n";

test("the vocabulary is the sorted set of code points, as Python's sorted(set(text))", () => {
  const tok = CharTokenizer.fromText(MIXED);
  const python = pythonView(MIXED);
  assert.deepEqual([...tok.codePoints], python.vocabulary);
  assert.equal(tok.vocabSize, python.vocabulary.length);
  assert.ok(tok.codePoints.indexOf(0xff01) < tok.codePoints.indexOf(0x1f600), "U+FF01 sorts before the emoji, unlike in UTF-16 order");
  assert.deepEqual([...CharTokenizer.fromText("abba").codePoints], [97, 98]);
});

test("encode gives one id per code point and decode inverts it", () => {
  const tok = CharTokenizer.fromText(MIXED);
  const ids = tok.encode(MIXED);
  const python = pythonView(MIXED);
  assert.equal(ids.length, python.codePoints.length);
  assert.ok(ids.length < MIXED.length, "astral characters are one token, not two UTF-16 units");
  assert.deepEqual(
    Array.from(ids, (id) => tok.codePoints[id]),
    python.codePoints,
  );
  assert.equal(tok.decode(ids), MIXED);
  const emoji = tok.encode("\u{1F600}");
  assert.equal(emoji.length, 1);
  assert.equal(tok.codePoints[emoji[0]!], 0x1f600);
  assert.deepEqual([...tok.encode("e\u0301")], [tok.codePoints.indexOf(0x65), tok.codePoints.indexOf(0x301)], "a combining mark is a token of its own");
  assert.notDeepEqual([...tok.encode("é")], [...tok.encode("e\u0301")], "precomposed and decomposed forms stay distinct");
  assert.equal(tok.encode("").length, 0);
  assert.equal(tok.decode([]), "");
});

test("long texts round-trip across decode's chunks", () => {
  const text = Array.from({ length: 7000 }, (_, i) => (i % 3 === 0 ? "\u{1F600}" : i % 3 === 1 ? "ab" : "e\u0301")).join("");
  const tok = CharTokenizer.fromText(text);
  const ids = tok.encode(text);
  assert.equal(ids.length, 2334 * 1 + 2333 * 2 + 2333 * 2, '2334 emojis, 2333 "ab" and 2333 e + U+0301');
  assert.equal(tok.decode(ids), text);
  assert.equal(tok.decode(Array.from(ids)), text);
});

test("a character outside the vocabulary is an error naming it and its position in code points", () => {
  const tok = CharTokenizer.fromText("a\u{1F600}b");
  assert.throws(() => tok.encode("abc"), /CharTokenizer\.encode: character "c" \(U\+0063\) at position 2 is not in the vocabulary of 3 characters/);
  assert.throws(() => tok.encode("\u{1F600}\u{1F600}z"), /character "z" \(U\+007A\) at position 2 /, "the emojis before it count once each");
  assert.throws(() => tok.encode("a\u{1F601}"), /character "\u{1F601}" \(U\+1F601\) at position 1 /u);
  assert.throws(() => tok.encode("a\n"), /character "\\n" \(U\+000A\) at position 1 /);
  assert.throws(() => tok.encode("a\u0301"), /character "\u0301" \(U\+0301\) at position 1 /);
});

test("lone surrogates are not characters", () => {
  assert.throws(() => CharTokenizer.fromText("a\uD800b"), /CharTokenizer\.fromText: lone surrogate \(U\+D800\) at position 1 is not a Unicode character/);
  assert.throws(() => CharTokenizer.fromText("\u{1F600}\uDC00"), /lone surrogate \(U\+DC00\) at position 1 /);
  assert.throws(() => CharTokenizer.fromText("x\uD83D"), /lone surrogate \(U\+D83D\) at position 1 /, "a high surrogate at the very end");
  assert.throws(() => CharTokenizer.fromText("ab").encode("b\uDE00"), /CharTokenizer\.encode: lone surrogate \(U\+DE00\) at position 1 /);
  assert.throws(() => new CharTokenizer([0x61, 0xd800]), /codePoints\[1\] = 55296 is not a Unicode scalar value/);
});

test("decode rejects ids outside the vocabulary, naming the id and its position", () => {
  const tok = CharTokenizer.fromText("abc");
  assert.equal(tok.decode(Int32Array.of(2, 0, 1)), "cab");
  assert.throws(() => tok.decode([0, 3]), /CharTokenizer\.decode: id 3 at position 1 is outside the vocabulary \[0, 3\)/);
  assert.throws(() => tok.decode([-1]), /id -1 at position 0 is outside the vocabulary \[0, 3\)/);
  assert.throws(() => tok.decode([0, 0, 1.5]), /id 1\.5 at position 2 /);
  assert.throws(() => CharTokenizer.fromText(""), /CharTokenizer\.fromText: the text is empty/);
});

test("the tokenizer survives JSON and a corrupt value is an error saying what is wrong", () => {
  const tok = CharTokenizer.fromText(MIXED);
  const json = JSON.stringify(tok);
  const back = CharTokenizer.fromJSON(JSON.parse(json));
  assert.deepEqual([...back.codePoints], [...tok.codePoints]);
  assert.deepEqual(back.encode(MIXED), tok.encode(MIXED));
  assert.deepEqual(JSON.parse(json), { type: "char", codePoints: [...tok.codePoints] });
  const cases: [unknown, RegExp][] = [
    [null, /CharTokenizer\.fromJSON: expected an object \{ type: "char", codePoints: number\[\] \}, got null/],
    [[97], /expected an object .*, got \[97\]/],
    [{ codePoints: [97] }, /CharTokenizer\.fromJSON: type must be "char", got undefined/],
    [{ type: "bpe", codePoints: [97] }, /type must be "char", got "bpe"/],
    [{ type: "char", codePoints: "ab" }, /CharTokenizer\.fromJSON: codePoints must be an array of code points, got "ab"/],
    [{ type: "char", codePoints: [] }, /codePoints is empty/],
    [{ type: "char", codePoints: [97, 97] }, /codePoints\[1\] = 97 does not follow codePoints\[0\] = 97; the vocabulary must be sorted without repeats/],
    [{ type: "char", codePoints: [98, 97] }, /codePoints\[1\] = 97 does not follow codePoints\[0\] = 98/],
    [{ type: "char", codePoints: [97, "b"] }, /codePoints\[1\] = "b" is not a Unicode scalar value/],
    [{ type: "char", codePoints: [97, 1.5e3 + 0.5] }, /codePoints\[1\] = 1500\.5 is not a Unicode scalar value/],
    [{ type: "char", codePoints: [-1] }, /codePoints\[0\] = -1 is not/],
    [{ type: "char", codePoints: [0x110000] }, /codePoints\[0\] = 1114112 is not/],
    [{ type: "char", codePoints: [0xdfff] }, /codePoints\[0\] = 57343 is not/],
  ];
  for (const [value, message] of cases) assert.throws(() => CharTokenizer.fromJSON(value), message, JSON.stringify(value));
});

test("unknownCharacters lists the characters outside the vocabulary once each, in order, astral ones whole", () => {
  const tok = CharTokenizer.fromText("ab\u{1F600}");
  assert.deepEqual(tok.unknownCharacters("abcba!c\u{1F601}\u{1F600}"), ["c", "!", "\u{1F601}"]);
  assert.deepEqual(tok.unknownCharacters("ba\u{1F600}"), []);
});
