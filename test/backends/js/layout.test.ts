import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { copyBytes, copyStrided } from "../../../src/backends/js/copy.js";
import { DTYPE } from "../../../src/backends/js/dtype.js";
import { embedding, embeddingBackward } from "../../../src/backends/js/embedding.js";
import { rowsGatherScaled, rowsScatterAdd } from "../../../src/backends/js/moe_rows.js";
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

describe("a mixture's slot rows (rowsScatterAdd, rowsGatherScaled)", () => {
  const TOKENS = 7,
    COLS = 37; // past one 32-column block of native's scatter-add
  const SLOT_TOKEN = Int32Array.from([2, 0, 6, 2, 5, 2, 0]); // token 2 in three slots, tokens 1, 3, 4 in none
  const GATES = Float32Array.from(uniformValues(8, SLOT_TOKEN.length, 0, 1));

  test("the scatter-add adds gated rows into their tokens' float32 rows, as native within float32 rounding", () => {
    for (const [name, dtype] of FLOAT_DTYPES) {
      const rows = makeArray(dtype, uniformValues(9, SLOT_TOKEN.length * COLS, -1, 1));
      for (const gates of [GATES, null]) {
        const js = Float32Array.from(uniformValues(10, TOKENS * COLS, -1, 1)),
          nat = js.slice(),
          before = js.slice();
        rowsScatterAdd(dtype, js, TOKENS, COLS, SLOT_TOKEN, rows, gates);
        native.rowsScatterAdd(dtype, nat, TOKENS, COLS, SLOT_TOKEN, rows, gates);
        // Up to 3 float32 additions of terms ≤ 1 onto a start ≤ 1 per element.
        assertNearNative(DTYPE.float32, Array.from(js), Array.from(nat), 4, () => 4, `rowsScatterAdd ${name} gates ${gates !== null}`);
        assert.equal(js[3 * COLS + 5], before[3 * COLS + 5], "token 3 has no slot and keeps its value");
        const x = valuesOf(dtype, rows);
        const expected = before[2 * COLS + 36]! + [0, 3, 5].reduce((a, s) => a + (gates === null ? 1 : gates[s]!) * x[s * COLS + 36]!, 0);
        assert.ok(Math.abs(js[2 * COLS + 36]! - expected) < 1e-5, `token 2's last column adds its three slots (${js[2 * COLS + 36]} vs ${expected})`);
      }
    }
  });

  test("the scaled gather gives native's bits, and each gate its row's dot product with the gradient", () => {
    for (const [name, dtype] of FLOAT_DTYPES) {
      const grad = makeArray(dtype, uniformValues(11, TOKENS * COLS, -1, 1)),
        rows = makeArray(dtype, uniformValues(12, SLOT_TOKEN.length * COLS, -1, 1));
      const js = zerosLike(dtype, SLOT_TOKEN.length * COLS),
        nat = zerosLike(dtype, SLOT_TOKEN.length * COLS);
      const jsGates = new Float32Array(SLOT_TOKEN.length),
        natGates = new Float32Array(SLOT_TOKEN.length);
      rowsGatherScaled(dtype, grad, TOKENS, COLS, SLOT_TOKEN, GATES, js, rows, jsGates);
      native.rowsGatherScaled(dtype, grad, TOKENS, COLS, SLOT_TOKEN, GATES, nat, rows, natGates);
      assertSameBits(js, nat, `rowsGatherScaled ${name}`);
      // A dot product of COLS terms ≤ 1, each float32 addition rounding once.
      assertNearNative(DTYPE.float32, Array.from(jsGates), Array.from(natGates), COLS, () => COLS, `rowsGatherScaled gates ${name}`);
      const g = valuesOf(dtype, grad),
        x = valuesOf(dtype, rows);
      const dot = Array.from({ length: COLS }, (_, j) => x[4 * COLS + j]! * g[5 * COLS + j]!).reduce((a, b) => a + b);
      assert.ok(Math.abs(jsGates[4]! - dot) < 1e-5, `slot 4's gate gradient is its row · token 5's gradient (${jsGates[4]} vs ${dot})`);
      assert.equal(
        valuesOf(dtype, js)[6 * COLS + 1],
        valuesOf(dtype, makeArray(dtype, [Math.fround(GATES[6]! * g[0 * COLS + 1]!)]))[0],
        "slot 6 holds token 0's gradient times its gate",
      );
    }
  });

  test("an index outside [0, tableRows) throws before anything is written", () => {
    const out = new Float32Array(4).fill(7);
    for (const k of [rowsScatterAdd, native.rowsScatterAdd]) {
      assert.throws(
        () => k(0, out, 2, 2, Int32Array.of(0, 2), new Float32Array(4), null),
        /^Error: rowsScatterAdd: index 2 at flat position 1 is out of range \[0, 2\) for a table of 2 rows$/,
      );
    }
    assert.deepEqual(Array.from(out), [7, 7, 7, 7]);
    for (const k of [rowsGatherScaled, native.rowsGatherScaled]) {
      assert.throws(
        () => k(0, out, 2, 2, Int32Array.of(-1), Float32Array.of(1), new Float32Array(2), null, null),
        /^Error: rowsGatherScaled: index -1 at flat position 0/,
      );
    }
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
