import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { binary } from "../../../src/backends/js/binary.js";
import { BINARY_OPS } from "../../../src/backends/js/codes.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, assertSameBits, EDGE_VALUES, FLOAT_DTYPES, makeArray, uniformValues, valuesOf, zerosLike } from "./kernel_check.js";

const native = loadNative();

/** An output [3, 5, 7]: a is contiguous, b a [5, 1] column broadcast over the first and last axes. */
const META = Int32Array.of(3, 3, 5, 7, 35, 7, 1, 0, 1, 0);
const A_COUNT = 105,
  B_COUNT = 5;

/** Every edge value against every other: [e, e] output, a read along rows, b down columns. */
const E = EDGE_VALUES.length;
const EDGE_META = Int32Array.of(2, E, E, 1, 0, 0, 1);

const code = (op: string): number => native.binaryCodes()[op]!;

/** Runs op both ways and returns the two outputs. */
function both(op: string, dtype: number, a: ReturnType<typeof makeArray>, b: ReturnType<typeof makeArray>, meta: Int32Array, n: number) {
  const js = zerosLike(dtype, n),
    nat = zerosLike(dtype, n);
  binary(code(op), dtype, a, b, js, meta);
  native.binary(code(op), dtype, a, b, nat, meta);
  return { js, nat };
}

describe("binary", () => {
  for (const op of BINARY_OPS) {
    // +, −, ×, ÷, max, min and comparisons of float32 values are exact in float64 before the
    // one rounding to float32, so they must give native's bits; pow goes through powf, within
    // a few float32 ulps.
    const exact = op !== "pow";
    test(`${op} equals native ${exact ? "bit for bit" : "within float32 rounding"} with broadcasting, in every float dtype`, () => {
      for (const [name, dtype] of FLOAT_DTYPES) {
        const low = op === "pow" ? 0 : -4;
        const a = makeArray(dtype, uniformValues(1, A_COUNT, low, 4)),
          b = makeArray(dtype, uniformValues(2, B_COUNT, -4, 4));
        const { js, nat } = both(op, dtype, a, b, META, A_COUNT);
        if (exact) assertSameBits(js, nat, `${op} ${name}`);
        else assertNearNative(dtype, valuesOf(dtype, js), valuesOf(dtype, nat), 4, (i) => Math.abs(valuesOf(dtype, js)[i]!), `${op} ${name}`);
      }
    });

    test(`${op} of every pair of edge values (NaN, ±0, ±inf) agrees with native`, () => {
      for (const [name, dtype] of FLOAT_DTYPES) {
        const edges = makeArray(dtype, EDGE_VALUES);
        const { js, nat } = both(op, dtype, edges, edges, EDGE_META, E * E);
        const jv = valuesOf(dtype, js),
          nv = valuesOf(dtype, nat);
        // NaN's sign and payload are whatever the CPU makes; every other value, -0 included, must match.
        jv.forEach((v, i) =>
          assert.ok(
            Object.is(v, nv[i]) || (Number.isNaN(v) && Number.isNaN(nv[i]!)) || (!exact && Math.abs(v - nv[i]!) <= 1e-6 * Math.abs(v)),
            `${op} ${name} of ${EDGE_VALUES[Math.floor(i / E)]} and ${EDGE_VALUES[i % E]}: ${v} in js, ${nv[i]} in native`,
          ),
        );
      }
    });
  }

  test("the output may be a (an in-place update)", () => {
    const a = Float32Array.of(1, 2, 3);
    binary(code("mul"), 0, a, Float32Array.of(2), a, Int32Array.of(1, 3, 1, 0));
    assert.deepEqual(Array.from(a), [2, 4, 6]);
  });

  test("bad metas and lengths throw errors that start with the kernel's name, as native's do", () => {
    const a = new Float32Array(4),
      out = new Float32Array(4);
    assert.throws(
      () => binary(code("add"), 0, a, a, out, Int32Array.of(1, 5, 1, 1)),
      /^Error: binary: operand 0 is read up to element 4 but holds 4 elements$/,
    );
    assert.throws(() => binary(code("add"), 0, a, a, out, Int32Array.of(13)), /^Error: binary: broadcast rank must be in 1\.\.12, got 13$/);
    assert.throws(() => binary(code("add"), 0, a, a, out, Int32Array.of(1, 4, -1, 1)), /^Error: binary: operand 0 has a negative stride$/);
    assert.throws(() => binary(code("add"), 0, a, a, new Float32Array(3), Int32Array.of(1, 4, 1, 1)), /^Error: binary: 'out' holds 3 elements, expected 4$/);
    assert.throws(() => binary(42, 0, a, a, out, Int32Array.of(1, 4, 1, 1)), /^Error: binary: unknown binary op code 42$/);
    assert.throws(
      () => native.binary(code("add"), 0, a, a, out, Int32Array.of(1, 5, 1, 1)),
      /^Error: binary: operand 0 is read up to element 4 but holds 4 elements$/,
    );
  });
});
