import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { DTYPE, dtypeName } from "../../../src/backends/js/dtype.js";
import { matmul } from "../../../src/backends/js/matmul.js";
import { Rng } from "../../../src/data/random.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, valuesOf } from "./kernel_check.js";
import { absF32, random } from "./oracle_check.js";

const native = loadNative();

interface Case {
  batchA: number;
  batchB: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
  bias: boolean;
}

const CASES: Case[] = [
  { batchA: 1, batchB: 1, m: 1, n: 1, k: 1, transA: false, transB: false, accumulate: false, bias: false },
  { batchA: 1, batchB: 1, m: 5, n: 7, k: 9, transA: false, transB: false, accumulate: false, bias: true },
  { batchA: 3, batchB: 1, m: 4, n: 6, k: 33, transA: true, transB: false, accumulate: false, bias: false },
  { batchA: 1, batchB: 4, m: 3, n: 5, k: 17, transA: false, transB: true, accumulate: true, bias: false },
  { batchA: 2, batchB: 2, m: 17, n: 3, k: 65, transA: true, transB: true, accumulate: true, bias: true },
  { batchA: 2, batchB: 2, m: 1, n: 31, k: 2, transA: false, transB: false, accumulate: false, bias: true },
];

/** Extents marked as changing from call to call (native then shares one primitive across their values). */
type Runtime = { m?: boolean; n?: boolean; k?: boolean };

function meta(c: Case, runtime: Runtime = {}): Int32Array {
  return Int32Array.of(c.batchA, c.batchB, c.m, c.n, c.k, +c.transA, +c.transB, +c.accumulate, +!!runtime.m, +!!runtime.n, +!!runtime.k, 0, 0);
}

function caseName(c: Case): string {
  return (
    `batch ${c.batchA}/${c.batchB}, ${c.m}×${c.k}·${c.k}×${c.n}${c.transA ? ", Aᵀ" : ""}${c.transB ? ", Bᵀ" : ""}` +
    `${c.accumulate ? ", accumulate" : ""}${c.bias ? ", bias" : ""}`
  );
}

describe("js matmul against native", () => {
  // The combinations native's oneDNN takes (it has no f32 × f32 → bf16 matmul).
  const combinations = [
    [DTYPE.float32, DTYPE.float32],
    [DTYPE.bfloat16, DTYPE.float32],
    [DTYPE.bfloat16, DTYPE.bfloat16],
  ] as const;
  for (const [ab, cd] of combinations) {
    const abName = dtypeName(ab),
      cName = dtypeName(cd);
    /** Native against the oracle on random operands of case c, native's meta marking `runtime` extents. */
    const check = (rng: Rng, c: Case, runtime: Runtime = {}): void => {
      const batch = Math.max(c.batchA, c.batchB);
      const a = random(rng, ab, c.batchA * c.m * c.k),
        b = random(rng, ab, c.batchB * c.k * c.n);
      const bias = c.bias ? (random(rng, DTYPE.float32, c.n) as Float32Array) : null;
      const before = random(rng, cd, batch * c.m * c.n);
      const expected = before.slice(),
        actual = before.slice();
      native.matmul(a, b, expected, bias, ab, cd, meta(c, runtime));
      matmul(a, b, actual, bias, ab, cd, meta(c));
      // Σ|a·b| + |bias| + |c| from the js kernel on absolute values, into float32.
      const magnitude = absF32(cd, before);
      matmul(absF32(ab, a), absF32(ab, b), magnitude, bias && absF32(DTYPE.float32, bias), DTYPE.float32, DTYPE.float32, meta(c));
      assertNearNative(cd, valuesOf(cd, actual), valuesOf(cd, expected), c.k + 3, (i) => magnitude[i]!, `${caseName(c)}, runtime ${JSON.stringify(runtime)}`);
    };
    test(`${abName} operands into ${cName}: every case within (K + 3)·u of Σ|a·b| + |bias| + |c|`, () => {
      const rng = Rng.seeded(7, ab * 2 + cd);
      for (const c of CASES) check(rng, c);
    });
    test(`${abName} operands into ${cName}: runtime extents serve a sequence of sizes, each within the same bound`, () => {
      // One primitive per case and runtime set serves every size after the first: each call must
      // describe its own operands (a stale size reads or writes the wrong elements).
      const rng = Rng.seeded(11, ab * 2 + cd);
      const sizes = [5, 2, 9, 1, 5, 33];
      for (const runtime of [{ m: true }, { k: true }, { m: true, n: true, k: true }] satisfies Runtime[]) {
        for (const base of CASES) {
          for (const size of sizes) {
            check(rng, { ...base, m: runtime.m ? size : base.m, n: runtime.n ? sizes.length - 1 + size : base.n, k: runtime.k ? size + 3 : base.k }, runtime);
          }
        }
      }
    });
  }

  test("checks lengths and shapes with native's messages", () => {
    const mm = Int32Array.of(1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0);
    for (const kernel of [native.matmul, matmul]) {
      assert.throws(
        () => kernel(new Float32Array(4), new Float32Array(3), new Float32Array(4), null, 0, 0, mm),
        /^Error: matmul: 'b' holds 3 elements, expected 4$/,
      );
      assert.throws(
        () => kernel(new Float32Array(8), new Float32Array(12), new Float32Array(12), null, 0, 0, Int32Array.of(2, 3, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0)),
        /^Error: matmul: batch sizes 2 and 3 do not broadcast$/,
      );
      assert.throws(
        () => kernel(new Float32Array(4), new Float32Array(4), new Float32Array(4), new Float32Array(3), 0, 0, mm),
        /^Error: matmul: 'bias' holds 3 elements, expected 2$/,
      );
      assert.throws(
        () => kernel(new Float32Array(4), new Float32Array(4), new Float32Array(4), null, 0, 0, Int32Array.of(1, 1, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0)),
        /^Error: matmul: batch, M, N and K must be positive, got batch 1\/1, M 0, N 2, K 2$/,
      );
      assert.throws(
        () => kernel(new Float32Array(4), new Float32Array(4), new Uint16Array(4), null, 0, 0, mm),
        /^TypeError: matmul: 'c' is a Uint16Array, but dtype float32 is stored in a Float32Array$/,
      );
    }
  });
});
