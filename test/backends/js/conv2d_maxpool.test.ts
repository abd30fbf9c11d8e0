import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { conv2dDirectFits, conv2dMaxPool, conv2dMaxPoolBackwardWeights } from "../../../src/backends/js/conv2d_maxpool.js";
import { DTYPE } from "../../../src/backends/js/dtype.js";
import { Rng } from "../../../src/data/random.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, valuesOf } from "./kernel_check.js";
import { absF32, random, randomIntegers } from "./oracle_check.js";

const native = loadNative();

interface Fused {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
}

// Each output-channel width native's direct kernels take, odd convolution outputs (a row or
// column no window covers), stride, padding and dilation.
const CASES: Fused[] = [
  { n: 2, c: 1, h: 10, w: 9, o: 16, kh: 3, kw: 3 },
  { n: 1, c: 3, h: 9, w: 9, o: 32, kh: 3, kw: 3, padding: [1, 1] },
  { n: 2, c: 4, h: 12, w: 11, o: 48, kh: 2, kw: 3, stride: [2, 1], padding: [1, 1], dilation: [1, 2] },
  { n: 1, c: 2, h: 7, w: 8, o: 64, kh: 3, kw: 2, dilation: [2, 1] },
];

function meta(c: Fused): Int32Array {
  const [sh, sw] = c.stride ?? [1, 1],
    [ph, pw] = c.padding ?? [0, 0],
    [dh, dw] = c.dilation ?? [1, 1];
  return Int32Array.of(c.n, c.c, c.h, c.w, c.o, c.kh, c.kw, sh, sw, ph, pw, dh, dw, 1, 1);
}

function sizes(c: Fused): { x: number; w: number; pooled: number; convOutputs: number } {
  const m = meta(c);
  const extent = (input: number, k: number, s: number, p: number, d: number): number => Math.floor((input + 2 * p - d * (k - 1) - 1) / s) + 1;
  const oh = extent(c.h, c.kh, m[7]!, m[9]!, m[11]!),
    ow = extent(c.w, c.kw, m[8]!, m[10]!, m[12]!);
  return { x: c.n * c.c * c.h * c.w, w: c.o * c.c * c.kh * c.kw, pooled: c.n * Math.floor(oh / 2) * Math.floor(ow / 2) * c.o, convOutputs: c.n * oh * ow };
}

// A call's result, or its error's message (groups that do not divide the channels throw).
function outcome(call: () => boolean): string {
  try {
    return String(call());
  } catch (e) {
    return (e as Error).message;
  }
}

describe("js conv2dMaxPool against native", () => {
  test("integer operands: the same pooled values, window codes (ties included) and weight gradients, exactly", () => {
    const rng = Rng.seeded(31);
    for (const c of CASES) {
      const z = sizes(c),
        m = meta(c),
        what = JSON.stringify(c);
      // Small integers make every sum exact in float32, so both sides see the same ties.
      const x = randomIntegers(rng, DTYPE.float32, z.x, 1) as Float32Array,
        w = randomIntegers(rng, DTYPE.float32, z.w, 1) as Float32Array;
      const bias = randomIntegers(rng, DTYPE.float32, c.o, 2) as Float32Array;
      for (const b of [bias, null]) {
        const expected = new Float32Array(z.pooled),
          actual = new Float32Array(z.pooled);
        const codesExpected = new Int32Array(z.pooled),
          codesActual = new Int32Array(z.pooled);
        native.conv2dMaxPool(x, w, b, expected, codesExpected, m);
        conv2dMaxPool(x, w, b, actual, codesActual, m);
        assert.deepEqual(actual, expected, `${what}: pooled`);
        assert.deepEqual(codesActual, codesExpected, `${what}: codes`);
        const withoutCodes = new Float32Array(z.pooled);
        conv2dMaxPool(x, w, b, withoutCodes, null, m);
        assert.deepEqual(withoutCodes, expected, `${what}: pooled without codes`);

        const dpooled = randomIntegers(rng, DTYPE.float32, z.pooled, 3) as Float32Array;
        // One code out of 0..3 drops its window's gradient on both sides.
        codesExpected[0] = 7;
        const dw = [new Float32Array(z.w), new Float32Array(z.w)],
          dbias = [new Float32Array(c.o).fill(9), new Float32Array(c.o).fill(9)];
        native.conv2dMaxPoolBackwardWeights(x, dpooled, codesExpected, dw[0]!, b && dbias[0]!, m);
        conv2dMaxPoolBackwardWeights(x, dpooled, codesExpected, dw[1]!, b && dbias[1]!, m);
        assert.deepEqual(dw[1], dw[0], `${what}: dw`);
        assert.deepEqual(dbias[1], dbias[0], `${what}: dbias`);
      }
    }
  });

  test("random operands: pooled values within (C·kh·kw + 2)·u and weight gradients within (N·OH·OW + 2)·u of their magnitudes", () => {
    const rng = Rng.seeded(32);
    for (const c of CASES) {
      const z = sizes(c),
        m = meta(c),
        what = JSON.stringify(c);
      const x = random(rng, DTYPE.float32, z.x) as Float32Array,
        w = random(rng, DTYPE.float32, z.w) as Float32Array;
      const bias = random(rng, DTYPE.float32, c.o) as Float32Array;
      const expected = new Float32Array(z.pooled),
        actual = new Float32Array(z.pooled),
        codes = new Int32Array(z.pooled);
      native.conv2dMaxPool(x, w, bias, expected, codes, m);
      conv2dMaxPool(x, w, bias, actual, null, m);
      // The largest Σ|x·w| + |bias| of each window bounds the one at its maximum.
      const magnitude = new Float32Array(z.pooled);
      conv2dMaxPool(absF32(DTYPE.float32, x), absF32(DTYPE.float32, w), absF32(DTYPE.float32, bias), magnitude, null, m);
      assertNearNative(
        DTYPE.float32,
        valuesOf(DTYPE.float32, actual),
        valuesOf(DTYPE.float32, expected),
        c.c * c.kh * c.kw + 2,
        (i) => magnitude[i]!,
        `${what}: pooled`,
      );

      const dpooled = random(rng, DTYPE.float32, z.pooled) as Float32Array;
      const dwExpected = new Float32Array(z.w),
        dwActual = new Float32Array(z.w),
        dwMagnitude = new Float32Array(z.w);
      const dbExpected = new Float32Array(c.o),
        dbActual = new Float32Array(c.o),
        dbMagnitude = new Float32Array(c.o);
      native.conv2dMaxPoolBackwardWeights(x, dpooled, codes, dwExpected, dbExpected, m);
      conv2dMaxPoolBackwardWeights(x, dpooled, codes, dwActual, dbActual, m);
      conv2dMaxPoolBackwardWeights(absF32(DTYPE.float32, x), absF32(DTYPE.float32, dpooled), codes, dwMagnitude, dbMagnitude, m);
      const k = z.convOutputs;
      assertNearNative(DTYPE.float32, valuesOf(DTYPE.float32, dwActual), valuesOf(DTYPE.float32, dwExpected), k + 2, (i) => dwMagnitude[i]!, `${what}: dw`);
      assertNearNative(DTYPE.float32, valuesOf(DTYPE.float32, dbActual), valuesOf(DTYPE.float32, dbExpected), k + 2, (i) => dbMagnitude[i]!, `${what}: dbias`);
    }
  });

  test("conv2dDirectFits agrees with native (result or error) on dtypes, layouts, groups, channel counts and output sizes", () => {
    let fitting = 0;
    for (const dtype of [DTYPE.float32, DTYPE.bfloat16, DTYPE.float16])
      for (const layout of [0, 1]) {
        for (const groups of [1, 2]) {
          for (const c of [1, 2, 4, 6]) {
            for (const o of [8, 16, 32, 48, 64, 80]) {
              for (const h of [3, 4, 5]) {
                const m = Int32Array.of(2, c, h, 6, o, 3, 3, 1, 1, 0, 0, 1, 1, groups, layout);
                const fits = outcome(() => conv2dDirectFits(dtype, m));
                assert.equal(
                  fits,
                  outcome(() => native.conv2dDirectFits(dtype, m)),
                  `dtype ${dtype}, meta ${m.join(", ")}`,
                );
                if (fits === "true") {
                  assert.equal(dtype, DTYPE.float32, "only float32 convolutions are fused");
                  fitting++;
                }
              }
            }
          }
        }
      }
    assert.ok(fitting > 0, "some float32 convolutions fit");
  });

  test("checks metas and lengths with native's messages", () => {
    const nchw = Int32Array.from([2, 8, 8, 8, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1]);
    const small = Int32Array.from([1, 1, 3, 8, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1]);
    const fits = Int32Array.from([1, 1, 6, 6, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1]);
    const x = new Float32Array(36),
      w = new Float32Array(144),
      pooled = new Float32Array(64),
      codes = new Int32Array(64);
    for (const [fitsKernel, forward, backward] of [
      [native.conv2dDirectFits, native.conv2dMaxPool, native.conv2dMaxPoolBackwardWeights],
      [conv2dDirectFits, conv2dMaxPool, conv2dMaxPoolBackwardWeights],
    ] as const) {
      assert.throws(() => fitsKernel(0, new Int32Array(15)), /^Error: conv2dDirectFits: sizes must be positive \(N may be 0\)/);
      assert.throws(() => fitsKernel(3, fits), /^Error: conv2dDirectFits: 'dtype' must be a floating dtype, got int32$/);
      assert.throws(
        () => forward(new Float32Array(1024), w, null, pooled, null, nchw),
        /^Error: conv2dMaxPool: needs a float32 channels-last convolution without groups, with at most 4 input channels and 16, 32, 48 or 64 output channels: input \[2, 8, 8, 8\]/,
      );
      assert.throws(
        () => forward(new Float32Array(24), w, null, pooled, null, small),
        /^Error: conv2dMaxPool: the convolution's output 1x6 is smaller than the 2x2 pooling window$/,
      );
      assert.throws(() => forward(x, w, null, new Float32Array(63), null, fits), /^Error: conv2dMaxPool: 'pooled' holds 63 elements, expected 64$/);
      assert.throws(
        () => backward(x, pooled, new Int32Array(3), w, null, fits),
        /^Error: conv2dMaxPoolBackwardWeights: 'codes' holds 3 elements, expected 64$/,
      );
      assert.throws(
        () => backward(x, pooled, codes, w, new Float32Array(15), fits),
        /^Error: conv2dMaxPoolBackwardWeights: 'dbias' holds 15 elements, expected 16$/,
      );
    }
  });
});
