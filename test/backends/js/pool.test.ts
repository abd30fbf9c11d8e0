import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { DTYPE, dtypeName, encodeOne, type Elements } from "../../../src/backends/js/dtype.js";
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from "../../../src/backends/js/pool.js";
import { Rng } from "../../../src/data/random.js";
import { native } from "../../../src/tensor/native.js";
import { assertNearNative, makeArray, valuesOf, zerosLike } from "./kernel_check.js";
import { absF32, random, randomIntegers } from "./oracle_check.js";

interface Pool {
  n: number; c: number; h: number; w: number; kh: number; kw: number;
  stride: [number, number]; padding?: [number, number]; dilation?: [number, number]; nhwc?: boolean;
}

// The 2×2 stride-2 window native runs on its own loops (odd sizes leave a row and column out),
// padding, dilation, overlapping windows, both layouts, and an empty batch.
const CASES: Pool[] = [
  { n: 2, c: 3, h: 7, w: 6, kh: 2, kw: 2, stride: [2, 2] },
  { n: 2, c: 5, h: 5, w: 7, kh: 2, kw: 2, stride: [2, 2], nhwc: true },
  { n: 1, c: 2, h: 9, w: 8, kh: 3, kw: 3, stride: [2, 2], padding: [1, 1] },
  { n: 2, c: 3, h: 8, w: 9, kh: 3, kw: 2, stride: [1, 1], padding: [1, 1], nhwc: true },
  { n: 1, c: 4, h: 10, w: 9, kh: 3, kw: 2, stride: [2, 3], padding: [1, 0], dilation: [2, 3] },
  { n: 2, c: 3, h: 9, w: 10, kh: 2, kw: 3, stride: [1, 2], padding: [1, 1], dilation: [3, 2], nhwc: true },
  { n: 0, c: 3, h: 4, w: 4, kh: 2, kw: 2, stride: [1, 1] },
];

function meta(p: Pool): Int32Array {
  const [ph, pw] = p.padding ?? [0, 0], [dh, dw] = p.dilation ?? [1, 1];
  return Int32Array.of(p.n, p.c, p.h, p.w, p.kh, p.kw, p.stride[0], p.stride[1], ph, pw, dh, dw, p.nhwc ? 1 : 0);
}

function outNumel(p: Pool): number {
  const m = meta(p);
  const extent = (input: number, k: number, s: number, pad: number, d: number): number => Math.floor((input + 2 * pad - d * (k - 1) - 1) / s) + 1;
  return p.n * p.c * extent(p.h, p.kh, m[6]!, m[8]!, m[10]!) * extent(p.w, p.kw, m[7]!, m[9]!, m[11]!);
}

const DTYPES = [DTYPE.float32, DTYPE.bfloat16, DTYPE.float16];

type AverageKernel = typeof avgPool2d;

// Runs an average-pooling kernel (forward or backward: the same signature) natively and in js
// into outputs of the same garbage, and in js on |input| into float32 for the error bound.
function compareAverage(dt: number, [nativeKernel, jsKernel]: [AverageKernel, AverageKernel], input: Elements, outputSize: number, m: Int32Array, includePad: boolean, ulps: number, what: string): void {
  const expected = makeArray(dt, new Array<number>(outputSize).fill(5)), actual = expected.slice(), magnitude = new Float32Array(outputSize);
  nativeKernel(dt, input, expected, m, includePad);
  jsKernel(dt, input, actual, m, includePad);
  jsKernel(DTYPE.float32, absF32(dt, input), magnitude, m, includePad);
  assertNearNative(dt, valuesOf(dt, actual), valuesOf(dt, expected), ulps, (i) => magnitude[i]!, what);
}

describe("js pooling against native", () => {
  for (const dt of DTYPES) {
    test(`${dtypeName(dt)} max pooling: the same values and argmax indices, ties, NaN and −∞ included`, () => {
      const rng = Rng.seeded(21, dt);
      for (const p of CASES) {
        const m = meta(p), inN = p.n * p.c * p.h * p.w, outN = outNumel(p);
        // Integers in [−2, 2] tie often; a few NaN and −∞ go in at random places.
        const x = randomIntegers(rng, dt, inN, 2);
        for (let i = 0; i < inN; i++) {
          const r = rng.nextFloat();
          if (r < 0.03) encodeOne(dt, NaN, x, i);
          else if (r < 0.06) encodeOne(dt, -Infinity, x, i);
        }
        const yExpected = zerosLike(dt, outN), yActual = zerosLike(dt, outN);
        const iExpected = new Int32Array(outN), iActual = new Int32Array(outN);
        native.maxPool2d(dt, x, yExpected, iExpected, m);
        maxPool2d(dt, x, yActual, iActual, m);
        assert.deepEqual(yActual, yExpected, `${JSON.stringify(p)}: values`);
        assert.deepEqual(iActual, iExpected, `${JSON.stringify(p)}: indices`);
        const yOnly = zerosLike(dt, outN);
        maxPool2d(dt, x, yOnly, null, m);
        assert.deepEqual(yOnly, yExpected, `${JSON.stringify(p)}: values without indices`);

        // The scatter sums where windows overlap: at most kh·kw terms per input element.
        const dy = random(rng, dt, outN);
        const dxExpected = random(rng, dt, inN), dxActual = dxExpected.slice(), magnitude = new Float32Array(inN);
        native.maxPool2dBackward(dt, dy, iExpected, dxExpected, m);
        maxPool2dBackward(dt, dy, iExpected, dxActual, m);
        maxPool2dBackward(DTYPE.float32, absF32(dt, dy), iExpected, magnitude, m);
        assertNearNative(dt, valuesOf(dt, dxActual), valuesOf(dt, dxExpected), p.kh * p.kw + 2, (i) => magnitude[i]!, `${JSON.stringify(p)}: backward`);
      }
    });

    for (const includePad of [true, false]) {
      test(`${dtypeName(dt)} average pooling, countIncludePad ${includePad}: within (kh·kw + 2)·u of the mean of |x|`, () => {
        const rng = Rng.seeded(22, dt * 2 + +includePad);
        for (const p of CASES.filter((c) => !c.dilation)) {
          const m = meta(p), inN = p.n * p.c * p.h * p.w, outN = outNumel(p);
          compareAverage(dt, [native.avgPool2d, avgPool2d], random(rng, dt, inN), outN, m, includePad, p.kh * p.kw + 2, JSON.stringify(p));
          compareAverage(dt, [native.avgPool2dBackward, avgPool2dBackward], random(rng, dt, outN), inN, m, includePad, p.kh * p.kw + 2, `${JSON.stringify(p)}: backward`);
        }
      });
    }
  }

  test("checks metas, indices and lengths with native's messages", () => {
    const m = (kh: number, ph: number, dilation = 1, layout = 0): Int32Array => Int32Array.of(1, 2, 4, 4, kh, kh, 2, 2, ph, ph, dilation, dilation, layout);
    const x = new Float32Array(32), y = new Float32Array(8);
    for (const kernel of [native.maxPool2d, maxPool2d]) {
      assert.throws(() => kernel(0, x, y, null, m(2, 2)), /^Error: max_pool2d: padding \[2, 2\] must be non-negative and at most half the kernel \[2, 2\]$/);
      assert.throws(() => kernel(0, x, y, null, m(2, 0, 1, 3)), /^Error: max_pool2d: layout code must be 0 \(NCHW\) or 1 \(NHWC\), got 3$/);
      assert.throws(() => kernel(0, x, y, null, m(3, 0, 2)), /^Error: max_pool2d: kernel H extent 5 \(dilation 2\) exceeds the padded input H 4 \(padding 0\)$/);
      assert.throws(() => kernel(0, x, new Float32Array(7), null, m(2, 0)), /^Error: max_pool2d: 'y' holds 7 elements, expected 8$/);
      assert.throws(() => kernel(3, new Int32Array(32), new Int32Array(8), null, m(2, 0)), /^Error: max_pool2d: 'dtype' must be a floating dtype, got int32$/);
    }
    for (const kernel of [native.maxPool2dBackward, maxPool2dBackward]) {
      assert.throws(() => kernel(0, y, Int32Array.of(0, 1, 2, 3, 16, 5, 6, 7), x, m(2, 0)), /^Error: max_pool2d backward: index 16 at position 4 is outside the input plane \[0, 16\)$/);
    }
    for (const kernel of [native.avgPool2d, avgPool2d]) {
      assert.throws(() => kernel(0, x, y, m(2, 0, 2), true), /^Error: avg_pool2d: average pooling has no dilation, got \[2, 2\]$/);
    }
    for (const kernel of [native.avgPool2dBackward, avgPool2dBackward]) {
      assert.throws(() => kernel(0, y, new Float32Array(31), m(2, 0), false), /^Error: avg_pool2d backward: 'dx' holds 31 elements, expected 32$/);
    }
  });
});
