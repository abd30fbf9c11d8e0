/** A character tokenizer as a plain JSON value, for a checkpoint's metadata. */
export interface CharTokenizerJSON {
  type: "char";
  /** The vocabulary: Unicode code points in increasing order; token id i is codePoints[i]. */
  codePoints: number[];
}

const MAX_CODE_POINT = 0x10ffff;
const isSurrogate = (cp: number): boolean => cp >= 0xd800 && cp <= 0xdfff;

/** `"é" (U+00E9)`: a character as an error message shows it, visible even when it is a control or combining mark. */
function describeChar(cp: number): string {
  const shown = isSurrogate(cp) ? "" : `${JSON.stringify(String.fromCodePoint(cp))} `;
  return `${shown}(U+${cp.toString(16).toUpperCase().padStart(4, "0")})`;
}

/**
 * Calls fn with each code point of `text` and its position counted in code points (not the
 * UTF-16 units JavaScript indexes strings by, which split astral characters such as emoji in
 * two). A lone surrogate is no Unicode character and cannot be written as UTF-8, so it is an
 * error naming its position.
 */
function forEachCodePoint(text: string, where: string, fn: (cp: number, position: number) => void): number {
  let position = 0;
  for (let i = 0; i < text.length; i++, position++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (isSurrogate(cp)) throw new RangeError(`${where}: lone surrogate ${describeChar(cp)} at position ${position} is not a Unicode character`);
    fn(cp, position);
  }
  return position;
}

/** Throws unless codePoints is a non-empty, strictly increasing list of Unicode scalar values. */
function checkVocabulary(codePoints: unknown, where: string): asserts codePoints is readonly number[] {
  if (!Array.isArray(codePoints))
    throw new TypeError(`${where}: codePoints must be an array of code points, got ${JSON.stringify(codePoints) ?? String(codePoints)}`);
  if (codePoints.length === 0) throw new RangeError(`${where}: codePoints is empty; a vocabulary needs at least one character`);
  for (let i = 0; i < codePoints.length; i++) {
    const cp: unknown = codePoints[i];
    if (typeof cp !== "number" || !Number.isInteger(cp) || cp < 0 || cp > MAX_CODE_POINT || isSurrogate(cp)) {
      throw new RangeError(
        `${where}: codePoints[${i}] = ${JSON.stringify(cp)} is not a Unicode scalar value (an integer in [0, 0x10FFFF] outside the surrogates)`,
      );
    }
    if (i > 0 && cp <= codePoints[i - 1]) {
      throw new RangeError(
        `${where}: codePoints[${i}] = ${cp} does not follow codePoints[${i - 1}] = ${codePoints[i - 1]}; the vocabulary must be sorted without repeats`,
      );
    }
  }
}

/** Code points decoded per String.fromCodePoint call: far below the engine's argument limit. */
const DECODE_CHUNK = 8192;

/**
 * A character-level tokenizer: one token per Unicode code point, the vocabulary being the
 * sorted set of code points of a corpus (so ids follow code point order, as Python's
 * `sorted(set(text))`, and an emoji is one token, not two UTF-16 halves). Combining marks are
 * characters of their own: "é" written as e + U+0301 is two tokens. Encoding a character the
 * corpus did not contain is an error, never a silent drop.
 *
 * @example
 * const tok = CharTokenizer.fromText("hello world");
 * tok.vocabSize;                 // 8: " ", "d", "e", "h", "l", "o", "r", "w"
 * tok.encode("hello");           // Int32Array [3, 2, 4, 4, 5]
 * tok.decode(tok.encode("low")); // "low"
 * const saved = JSON.stringify(tok);
 * CharTokenizer.fromJSON(JSON.parse(saved)).vocabSize; // 8
 */
export class CharTokenizer {
  /** The vocabulary's code points in increasing order; token id i stands for codePoints[i]. */
  readonly codePoints: readonly number[];
  /** Ids of the Basic Multilingual Plane's characters by code point, -1 outside the vocabulary. */
  private readonly bmpIds = new Int32Array(0x10000).fill(-1);
  private readonly astralIds = new Map<number, number>();

  /**
   * A tokenizer over the given vocabulary (increasing Unicode scalar values, at least one).
   * @example new CharTokenizer([0x0a, 0x20, 0x61]).decode([2, 1, 0]) // "a \n"
   */
  constructor(codePoints: readonly number[]) {
    checkVocabulary(codePoints, "CharTokenizer");
    this.codePoints = Object.freeze([...codePoints]);
    this.codePoints.forEach((cp, id) => (cp < 0x10000 ? (this.bmpIds[cp] = id) : this.astralIds.set(cp, id)));
  }

  /**
   * The tokenizer whose vocabulary is every character occurring in `text`.
   * @example CharTokenizer.fromText("abba").codePoints // [97, 98]
   */
  static fromText(text: string): CharTokenizer {
    const bmpSeen = new Uint8Array(0x10000);
    const astral = new Set<number>();
    forEachCodePoint(text, "CharTokenizer.fromText", (cp) => (cp < 0x10000 ? (bmpSeen[cp] = 1) : astral.add(cp)));
    const codePoints: number[] = [];
    bmpSeen.forEach((seen, cp) => seen && codePoints.push(cp));
    codePoints.push(...[...astral].sort((a, b) => a - b));
    if (codePoints.length === 0) throw new RangeError("CharTokenizer.fromText: the text is empty; a vocabulary needs at least one character");
    return new CharTokenizer(codePoints);
  }

  /**
   * A tokenizer saved by `toJSON`, checked: a corrupt value is an error saying what is wrong.
   * @example CharTokenizer.fromJSON({ type: "char", codePoints: [97, 98] }).vocabSize // 2
   */
  static fromJSON(value: unknown): CharTokenizer {
    const where = "CharTokenizer.fromJSON";
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new TypeError(`${where}: expected an object { type: "char", codePoints: number[] }, got ${JSON.stringify(value) ?? String(value)}`);
    }
    const { type, codePoints } = value as Partial<CharTokenizerJSON>;
    if (type !== "char") throw new TypeError(`${where}: type must be "char", got ${JSON.stringify(type) ?? "undefined"}`);
    checkVocabulary(codePoints, where);
    return new CharTokenizer(codePoints);
  }

  /** How many distinct tokens there are (the embedding's row count). */
  get vocabSize(): number {
    return this.codePoints.length;
  }

  /**
   * The vocabulary as a JSON value (what `JSON.stringify(tokenizer)` writes).
   * @example tok.toJSON() // { type: "char", codePoints: [32, 100, ...] }
   */
  toJSON(): CharTokenizerJSON {
    return { type: "char", codePoints: [...this.codePoints] };
  }

  /**
   * The token ids of `text`, one per code point. A character outside the vocabulary is an error
   * naming it and its position (counted in characters, i.e. code points).
   * @example CharTokenizer.fromText("ab").encode("ba") // Int32Array [1, 0]
   */
  encode(text: string): Int32Array {
    const ids = new Int32Array(text.length);
    const count = forEachCodePoint(text, "CharTokenizer.encode", (cp, position) => {
      const id = this.idOf(cp);
      if (id < 0) {
        throw new RangeError(
          `CharTokenizer.encode: character ${describeChar(cp)} at position ${position} is not in the vocabulary of ${this.vocabSize} characters`,
        );
      }
      ids[position] = id;
    });
    return count === ids.length ? ids : ids.slice(0, count);
  }

  /** The token id of a code point, -1 when it is outside the vocabulary. */
  private idOf(cp: number): number {
    return cp < 0x10000 ? this.bmpIds[cp]! : (this.astralIds.get(cp) ?? -1);
  }

  /**
   * The distinct characters of `text` outside the vocabulary, in order of first appearance
   * (empty when `encode(text)` would succeed).
   * @example CharTokenizer.fromText("ab").unknownCharacters("abcba!") // ["c", "!"]
   */
  unknownCharacters(text: string): string[] {
    const unknown = new Set<string>();
    forEachCodePoint(text, "CharTokenizer.unknownCharacters", (cp) => {
      if (this.idOf(cp) < 0) unknown.add(String.fromCodePoint(cp));
    });
    return [...unknown];
  }

  /**
   * The text of token ids; an id outside [0, vocabSize) is an error naming it and its position.
   * @example CharTokenizer.fromText("ab").decode([1, 0, 0]) // "baa"
   */
  decode(ids: ArrayLike<number>): string {
    const parts: string[] = [];
    const chunk: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(`CharTokenizer.decode: id ${id} at position ${i} is outside the vocabulary [0, ${this.vocabSize})`);
      }
      chunk.push(this.codePoints[id]!);
      if (chunk.length === DECODE_CHUNK) parts.push(String.fromCodePoint(...chunk.splice(0)));
    }
    parts.push(String.fromCodePoint(...chunk));
    return parts.join("");
  }
}
