import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { REDUCE_OPS } from "../../../src/backends/js/codes.js";
import { DTYPE } from "../../../src/backends/js/dtype.js";
import { reduce } from "../../../src/backends/js/reduce.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, FLOAT_DTYPES, makeArray, uniformValues, valuesOf, zerosLike } from "./kernel_check.js";

const native = loadNative();

/** [outer, r, inner] views: the last axis, a middle one, the first, a long one (native splits its rows over threads), a single row. */
const VIEWS = [
  [7, 13, 1],
  [3, 11, 17],
  [1, 9, 300],
  [1, 1000, 3],
  [5, 1, 4],
] as const;

describe("reduce", () => {
  for (const op of REDUCE_OPS) {
    test(`${op} equals native over every view and float dtype, into x's dtype and float32`, () => {
      const code = native.reduceCodes()[op];
      for (const [outer, r, inner] of VIEWS) {
        for (const [name, dtype] of FLOAT_DTYPES) {
          const x = makeArray(dtype, uniformValues(r, outer * r * inner, -2, 3));
          const xs = valuesOf(dtype, x);
          for (const outDtype of new Set([dtype, DTYPE.float32])) {
            const js = zerosLike(outDtype, outer * inner),
              nat = zerosLike(outDtype, outer * inner);
            reduce(code, dtype, x, js, outer, r, inner, outDtype);
            native.reduce(code, dtype, x, nat, outer, r, inner, outDtype);
            // Both sum in float64 and round once to float32, so only the float64 sums' order
            // differs: 1 float32 ulp of the result, or of Σ|x| where terms cancel.
            const absSum = (o: number, j: number): number => {
              let s = 0;
              for (let i = 0; i < r; i++) s += Math.abs(xs[(o * r + i) * inner + j]!);
              return op === "mean" ? s / r : s;
            };
            assertNearNative(
              outDtype,
              valuesOf(outDtype, js),
              valuesOf(outDtype, nat),
              2,
              (k) => (op === "max" || op === "min" ? 0 : absSum(Math.floor(k / inner), k % inner)),
              `${op} [${outer}, ${r}, ${inner}] ${name} -> ${outDtype}`,
            );
          }
        }
      }
    });
  }

  test("max and min propagate NaN; an infinity wins; -0 and +0 tie as native breaks the tie", () => {
    const x = Float32Array.of(1, NaN, 3, -Infinity, 2, 5, -0, 0, 0, -0, 7, Infinity);
    for (const op of ["max", "min", "sum", "mean"] as const) {
      const js = new Float32Array(6),
        nat = new Float32Array(6);
      reduce(native.reduceCodes()[op], 0, x, js, 6, 2, 1, 0);
      native.reduce(native.reduceCodes()[op], 0, x, nat, 6, 2, 1, 0);
      Array.from(js).forEach((v, i) => assert.ok(Object.is(v, nat[i]) || (Number.isNaN(v) && Number.isNaN(nat[i]!)), `${op} row ${i}: ${v} vs ${nat[i]}`));
    }
  });

  test("sums accumulate in float64: 2^24 and a thousand ones do not stall at 2^24 as a float32 sum does", () => {
    const x = new Float32Array(1001).fill(1);
    x[0] = 2 ** 24;
    const out = new Float32Array(1);
    reduce(native.reduceCodes().sum, 0, x, out, 1, 1001, 1, 0);
    assert.equal(out[0], 2 ** 24 + 1000);
  });

  test("sum of an empty axis is 0; max, min and mean of one are errors, as native's", () => {
    const out = Float32Array.of(9, 9);
    reduce(native.reduceCodes().sum, 0, new Float32Array(0), out, 2, 0, 1, 0);
    assert.deepEqual(Array.from(out), [0, 0]);
    assert.throws(
      () => reduce(native.reduceCodes().max, 0, new Float32Array(0), out, 2, 0, 1, 0),
      /^Error: reduce: max, min and mean of an empty axis are undefined$/,
    );
    assert.throws(
      () => reduce(native.reduceCodes().sum, 1, new Uint16Array(6), new Uint16Array(2), 1, 3, 2, 2),
      /^Error: reduce: out must be in x's dtype or float32, got float16$/,
    );
    assert.throws(
      () => reduce(native.reduceCodes().sum, 0, new Float32Array(5), new Float32Array(2), 1, 3, 2, 0),
      /^Error: reduce: 'x' holds 5 elements, expected 6$/,
    );
  });
});
