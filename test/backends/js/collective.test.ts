import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { collectiveReduce } from "../../../src/backends/js/collective.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, EDGE_VALUES, FLOAT_DTYPES, makeArray, uniformValues, valuesOf } from "./kernel_check.js";

const native = loadNative();

const N = 2053;
const RANKS = 5;

describe("collectiveReduce", () => {
  for (const op of ["sum", "max"] as const) {
    test(`${op} of ${RANKS} sources into every destination, a destination being a source, equals native`, () => {
      for (const [name, dtype] of FLOAT_DTYPES) {
        const sources = Array.from({ length: RANKS }, (_, k) =>
          makeArray(dtype, [...uniformValues(k + 1, N, -5, 5), ...EDGE_VALUES.map((v) => (Number.isNaN(v) && k !== 2 ? 0 : v))]),
        );
        const n = sources[0]!.length;
        // Each side reduces into copies of ranks 0 and 3's buffers, which are also sources (in place, as the threads group does).
        const run = (kernel: typeof collectiveReduce) => {
          const srcs = sources.map((s) => s.slice());
          kernel(dtype, native.collectiveCodes()[op], [srcs[0]!, srcs[3]!], srcs, 0.25);
          return srcs;
        };
        const js = run(collectiveReduce),
          nat = run(native.collectiveReduce);
        assert.deepEqual(valuesOf(dtype, js[0]!), valuesOf(dtype, js[3]!), "both destinations hold the result");
        assert.deepEqual(valuesOf(dtype, js[1]!), valuesOf(dtype, sources[1]!), "other sources are untouched");
        // Native sums in float32: RANKS − 1 roundings of partial sums up to Σ|x|.
        const absSum = (i: number): number => sources.reduce((s, a) => s + Math.abs(valuesOf(dtype, a)[i]!), 0) * 0.25;
        assertNearNative(dtype, valuesOf(dtype, js[0]!), valuesOf(dtype, nat[0]!), RANKS, op === "sum" ? absSum : () => 0, `${op} ${name} (${n} elements)`);
      }
    });
  }

  test("arrays of the wrong kind or length, and unknown ops, throw errors that start with the kernel's name", () => {
    const a = new Float32Array(3);
    assert.throws(() => collectiveReduce(0, 2, [a], [a], 1), /^Error: collectiveReduce: op must be 0 \(sum\) or 1 \(max\), got 2$/);
    assert.throws(() => collectiveReduce(0, 0, [a], [a, new Float32Array(2)], 1), /^Error: collectiveReduce: srcs\[1\] holds 2 elements, expected 3$/);
    assert.throws(() => collectiveReduce(1, 0, [a], [a], 1), /^Error: collectiveReduce: dsts\[0\] must be a Uint16Array/);
    assert.throws(() => collectiveReduce(0, 0, [], [a], 1), /^Error: collectiveReduce: dsts must hold at least one typed array$/);
  });
});
