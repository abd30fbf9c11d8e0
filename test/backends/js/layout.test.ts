import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { copyBytes, copyStrided } from "../../../src/backends/js/copy.js";
import { DTYPE } from "../../../src/backends/js/dtype.js";
import { embedding, embeddingBackward } from "../../../src/backends/js/embedding.js";
import { where } from "../../../src/backends/js/where.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, assertSameBits, EDGE_VALUES, FLOAT_DTYPES, makeArray, uniformValues, valuesOf, zerosLike } from "./kernel_check.js";

const native = loadNative();

const ALL_DTYPES = [...FLOAT_DTYPES, ["int32", DTYPE.int32]] as const;

/** A source of n elements of dtype, NaN payloads and -0 included for floats. */
function source(dtype: number, n: number, seed: number) {
  const values = uniformValues(seed, n, -1000, 1000);
  EDGE_VALUES.forEach((v, i) => (values[(i * 7) % n] = dtype === DTYPE.int32 ? i : v));
  return makeArray(dtype, dtype === DTYPE.int32 ? values.map(Math.round) : values);
}

describe("copyStrided", () => {
  // [ndim, shape, srcStrides, dstStrides] with the source and destination offsets and sizes.
  const CASES = [
    { what: "a permute of [3, 4, 5] to [5, 3, 4]", meta: [3, 5, 3, 4, 1, 20, 5, 12, 4, 1], srcN: 60, srcOffset: 0, dstN: 60, dstOffset: 0 },
    { what: "an expand of a [4] row to [6, 4]", meta: [2, 6, 4, 0, 1, 4, 1], srcN: 4, srcOffset: 0, dstN: 24, dstOffset: 0 },
    { what: "a slice [1:3, 2:5] of [4, 7]", meta: [2, 2, 3, 7, 1, 3, 1], srcN: 28, srcOffset: 9, dstN: 6, dstOffset: 0 },
    { what: "a concat's second part into columns 2..4 of [3, 5]", meta: [2, 3, 3, 3, 1, 5, 1], srcN: 9, srcOffset: 0, dstN: 15, dstOffset: 2 },
    { what: "a transpose of [40, 70]", meta: [2, 70, 40, 1, 70, 40, 1], srcN: 2800, srcOffset: 0, dstN: 2800, dstOffset: 0 },
  ];
  for (const c of CASES) {
    test(`${c.what} gives native's bits in every dtype`, () => {
      for (const [name, dtype] of ALL_DTYPES) {
        const src = source(dtype, c.srcN, c.srcN);
        const js = makeArray(dtype, uniformValues(5, c.dstN, -1, 1)),
          nat = js.slice();
        copyStrided(dtype, src, c.srcOffset, js, c.dstOffset, Int32Array.from(c.meta));
        native.copyStrided(dtype, src, c.srcOffset, nat, c.dstOffset, Int32Array.from(c.meta));
        assertSameBits(js, nat, `${c.what} ${name}`);
      }
    });
  }

  test("bad offsets, strides and metas throw errors that start with the kernel's name", () => {
    const a = new Float32Array(4);
    assert.throws(
      () => copyStrided(0, a, 5, a, 0, Int32Array.of(1, 1, 1, 1)),
      /^Error: copyStrided: offsets 5 and 0 lie outside the arrays \(4 and 4 elements\)$/,
    );
    assert.throws(
      () => copyStrided(0, a, 0, a, 0, Int32Array.of(1, 4, 1, 0)),
      /^Error: copyStrided: destination stride 0 in dimension 0 would write one element twice$/,
    );
    assert.throws(() => copyStrided(0, a, 1, a, 0, Int32Array.of(1, 4, 1, 1)), /^Error: copyStrided: operand 0 is read up to element 3 but holds 3 elements$/);
    assert.throws(() => copyStrided(0, a, 0, a, 0, Int32Array.of(2, 2)), /^Error: copyStrided: 'meta' holds 2 entries, expected at least 7$/);
  });
});

describe("where", () => {
  test("selects bits by a condition of every dtype (-0 false, NaN true) with three-way broadcasting", () => {
    // Output [4, 14]: cond broadcast down columns ([14]), a a full [4, 14], b one [4, 1] column.
    const meta = Int32Array.of(2, 4, 14, 0, 1, 14, 1, 1, 0);
    for (const [condName, condDtype] of ALL_DTYPES) {
      const cond = makeArray(condDtype, condDtype === DTYPE.int32 ? [0, 1, -1, 0, 5, 0, 2, 0, 0, 3, 0, 0, 0, 7] : EDGE_VALUES);
      for (const [name, dtype] of ALL_DTYPES) {
        const a = source(dtype, 56, 3),
          b = source(dtype, 4, 9);
        const js = zerosLike(dtype, 56),
          nat = zerosLike(dtype, 56);
        where(condDtype, cond, dtype, a, b, js, meta);
        native.where(condDtype, cond, dtype, a, b, nat, meta);
        assertSameBits(js, nat, `cond ${condName}, values ${name}`);
      }
    }
  });

  test("a mismatched output length throws an error that starts with the kernel's name", () => {
    assert.throws(
      () => where(0, new Float32Array(2), 0, new Float32Array(2), new Float32Array(2), new Float32Array(3), Int32Array.of(1, 2, 1, 1, 1)),
      /^Error: where: 'out' holds 3 elements, expected 2$/,
    );
  });
});

describe("embedding", () => {
  const ROWS = 11,
    COLS = 13;
  const INDICES = Int32Array.from([3, 0, 10, 3, 3, 7, 10, 1, 0]); // repeats accumulate in backward

  test("gathers native's bits in every float dtype", () => {
    for (const [name, dtype] of FLOAT_DTYPES) {
      const weight = source(dtype, ROWS * COLS, 4);
      const js = zerosLike(dtype, INDICES.length * COLS),
        nat = zerosLike(dtype, INDICES.length * COLS);
      embedding(dtype, weight, ROWS, COLS, INDICES, js);
      native.embedding(dtype, weight, ROWS, COLS, INDICES, nat);
      assertSameBits(js, nat, `embedding ${name}`);
    }
  });

  test("backward scatter-adds repeated indices and zeroes untouched rows, as native within float32 rounding", () => {
    for (const [name, dtype] of FLOAT_DTYPES) {
      const grad = makeArray(dtype, uniformValues(6, INDICES.length * COLS, -1, 1));
      const js = makeArray(dtype, new Array<number>(ROWS * COLS).fill(9)),
        nat = js.slice();
      embeddingBackward(dtype, js, ROWS, COLS, INDICES, grad);
      native.embeddingBackward(dtype, nat, ROWS, COLS, INDICES, grad);
      // Native adds up to 3 terms in float32 per element: 3 roundings of at most Σ|g| ≤ 3.
      assertNearNative(dtype, valuesOf(dtype, js), valuesOf(dtype, nat), 3, () => 3, `embeddingBackward ${name}`);
      assert.equal(valuesOf(dtype, js)[2 * COLS], 0, "row 2, never indexed, is zeroed");
    }
  });

  test("an index outside [0, rows) throws before anything is written", () => {
    const out = new Float32Array(4).fill(7);
    assert.throws(
      () => embedding(0, new Float32Array(4), 2, 2, Int32Array.of(0, 2), out),
      /^Error: embedding: index 2 at flat position 1 is out of range \[0, 2\) for a weight of 2 rows$/,
    );
    assert.deepEqual(Array.from(out), [7, 7, 7, 7]);
    assert.throws(
      () => embeddingBackward(0, new Float32Array(4), 2, 2, Int32Array.of(-1), new Float32Array(2)),
      /^Error: embeddingBackward: index -1 at flat position 0/,
    );
  });
});

describe("copyBytes", () => {
  test("copies between views of any width, into a SharedArrayBuffer too", () => {
    const src = Float32Array.of(1.5, NaN, -0);
    const dst = new Uint16Array(new SharedArrayBuffer(12));
    copyBytes(dst, src);
    assertSameBits(dst, src, "shared copy");
  });

  test("moves overlapping ranges of one buffer as memmove does", () => {
    const buffer = Int32Array.of(1, 2, 3, 4, 5);
    copyBytes(buffer.subarray(1, 5), buffer.subarray(0, 4));
    assert.deepEqual(Array.from(buffer), [1, 1, 2, 3, 4]);
  });

  test("different byte lengths throw an error that starts with the kernel's name", () => {
    assert.throws(() => copyBytes(new Float32Array(2), new Uint16Array(2)), /^Error: copyBytes: dst holds 8 bytes, src 4$/);
  });
});
