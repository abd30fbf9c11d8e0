import assert from "node:assert/strict";
import { describe, test } from "node:test";

import fc from "fast-check";

import { DTYPE, dtypeName, encodeOne } from "../../../src/backends/js/dtype.js";
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from "../../../src/backends/js/pool.js";
import { Rng } from "../../../src/data/random.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, valuesOf, zerosLike } from "./kernel_check.js";
import { absF32, random, randomIntegers } from "./oracle_check.js";

const native = loadNative();

interface Pool {
  n: number;
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  stride: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
  nhwc?: boolean;
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
  const [ph, pw] = p.padding ?? [0, 0],
    [dh, dw] = p.dilation ?? [1, 1];
  return Int32Array.of(p.n, p.c, p.h, p.w, p.kh, p.kw, p.stride[0], p.stride[1], ph, pw, dh, dw, p.nhwc ? 1 : 0);
}

function outNumel(p: Pool): number {
  const m = meta(p);
  const extent = (input: number, k: number, s: number, pad: number, d: number): number => Math.floor((input + 2 * pad - d * (k - 1) - 1) / s) + 1;
  return p.n * p.c * extent(p.h, p.kh, m[6]!, m[8]!, m[10]!) * extent(p.w, p.kw, m[7]!, m[9]!, m[11]!);
}

const DTYPES = [DTYPE.float32, DTYPE.bfloat16, DTYPE.float16];

/**
 * Max pooling of one geometry natively and in js: the same values and argmax indices (integers
 * in [−2, 2] tie often; a few NaN and −∞ go in at random places), and the backward's scatter
 * within (kh·kw + 2)·u of Σ|dy| (at most kh·kw windows overlap on an input element).
 */
function compareMax(p: Pool, dt: number, rng: Rng): void {
  const m = meta(p),
    inN = p.n * p.c * p.h * p.w,
    outN = outNumel(p),
    what = JSON.stringify(p);
  const x = randomIntegers(rng, dt, inN, 2);
  for (let i = 0; i < inN; i++) {
    const r = rng.nextFloat();
    if (r < 0.03) encodeOne(dt, NaN, x, i);
    else if (r < 0.06) encodeOne(dt, -Infinity, x, i);
  }
  const yExpected = zerosLike(dt, outN),
    yActual = zerosLike(dt, outN),
    yOnly = zerosLike(dt, outN);
  const iExpected = new Int32Array(outN),
    iActual = new Int32Array(outN);
  native.maxPool2d(dt, x, yExpected, iExpected, m);
  maxPool2d(dt, x, yActual, iActual, m);
  maxPool2d(dt, x, yOnly, null, m);
  assert.deepEqual(yActual, yExpected, `${what}: values`);
  assert.deepEqual(iActual, iExpected, `${what}: indices`);
  assert.deepEqual(yOnly, yExpected, `${what}: values without indices`);

  const dy = random(rng, dt, outN);
  const dxExpected = random(rng, dt, inN),
    dxActual = dxExpected.slice(),
    magnitude = new Float32Array(inN);
  native.maxPool2dBackward(dt, dy, iExpected, dxExpected, m);
  maxPool2dBackward(dt, dy, iExpected, dxActual, m);
  maxPool2dBackward(DTYPE.float32, absF32(dt, dy), iExpected, magnitude, m);
  assertNearNative(dt, valuesOf(dt, dxActual), valuesOf(dt, dxExpected), p.kh * p.kw + 2, (i) => magnitude[i]!, `${what}: backward`);
}

type AverageKernel = typeof avgPool2d;

/**
 * Average pooling of one geometry (no dilation), forward and backward, natively and in js into
 * outputs of the same garbage, each within (kh·kw + 2)·u of the js kernel on |input|.
 */
function compareAverage(p: Pool, dt: number, includePad: boolean, rng: Rng): void {
  const m = meta(p),
    inN = p.n * p.c * p.h * p.w,
    outN = outNumel(p),
    what = `${JSON.stringify(p)}, countIncludePad ${includePad}`;
  const pairs: [AverageKernel, AverageKernel, number, number, string][] = [
    [native.avgPool2d, avgPool2d, inN, outN, "forward"],
    [native.avgPool2dBackward, avgPool2dBackward, outN, inN, "backward"],
  ];
  for (const [nativeKernel, jsKernel, inputSize, outputSize, direction] of pairs) {
    const input = random(rng, dt, inputSize);
    const expected = random(rng, dt, outputSize),
      actual = expected.slice(),
      magnitude = new Float32Array(outputSize);
    nativeKernel(dt, input, expected, m, includePad);
    jsKernel(dt, input, actual, m, includePad);
    jsKernel(DTYPE.float32, absF32(dt, input), magnitude, m, includePad);
    assertNearNative(dt, valuesOf(dt, actual), valuesOf(dt, expected), p.kh * p.kw + 2, (i) => magnitude[i]!, `${what}: ${direction}`);
  }
}

// Any geometry native takes: padding at most half the kernel, the input at least the dilated
// kernel's span once padded.
const anyPool: fc.Arbitrary<Pool> = fc
  .record({
    n: fc.integer({ min: 0, max: 2 }),
    c: fc.integer({ min: 0, max: 3 }),
    kh: fc.integer({ min: 1, max: 4 }),
    kw: fc.integer({ min: 1, max: 4 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    padFraction: fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
    extra: fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 })),
    nhwc: fc.boolean(),
  })
  .map(({ padFraction, extra, ...g }) => {
    const padding: [number, number] = [Math.floor((padFraction[0] * g.kh) / 2), Math.floor((padFraction[1] * g.kw) / 2)];
    return {
      ...g,
      padding,
      h: Math.max(1, g.dilation[0] * (g.kh - 1) + 1 - 2 * padding[0] + extra[0]),
      w: Math.max(1, g.dilation[1] * (g.kw - 1) + 1 - 2 * padding[1] + extra[1]),
    };
  });

describe("js pooling against native", () => {
  for (const dt of DTYPES) {
    test(`${dtypeName(dt)} max pooling on every listed case: the same values and argmax indices, ties, NaN and −∞ included`, () => {
      const rng = Rng.seeded(21, dt);
      for (const p of CASES) compareMax(p, dt, rng);
    });

    test(`${dtypeName(dt)} average pooling on every listed case without dilation, counting the padding or not`, () => {
      const rng = Rng.seeded(22, dt);
      for (const p of CASES.filter((c) => !c.dilation)) for (const includePad of [true, false]) compareAverage(p, dt, includePad, rng);
    });
  }

  test("max and average pooling on 60 arbitrary geometries (seeded fast-check)", () => {
    fc.assert(
      fc.property(anyPool, fc.constantFrom(...DTYPES), fc.boolean(), fc.nat(), (p, dt, includePad, seed) => {
        const rng = Rng.seeded(seed);
        compareMax(p, dt, rng);
        compareAverage({ ...p, dilation: [1, 1] }, dt, includePad, rng);
      }),
      { seed: 23, numRuns: 60 },
    );
  });

  test("checks metas, indices and lengths with native's messages", () => {
    const m = (kh: number, ph: number, dilation = 1, layout = 0): Int32Array => Int32Array.of(1, 2, 4, 4, kh, kh, 2, 2, ph, ph, dilation, dilation, layout);
    const x = new Float32Array(32),
      y = new Float32Array(8);
    for (const kernel of [native.maxPool2d, maxPool2d]) {
      assert.throws(() => kernel(0, x, y, null, m(2, 2)), /^Error: max_pool2d: padding \[2, 2\] must be non-negative and at most half the kernel \[2, 2\]$/);
      assert.throws(() => kernel(0, x, y, null, m(2, 0, 1, 3)), /^Error: max_pool2d: layout code must be 0 \(NCHW\) or 1 \(NHWC\), got 3$/);
      assert.throws(
        () => kernel(0, x, y, null, m(3, 0, 2)),
        /^Error: max_pool2d: kernel H extent 5 \(dilation 2\) exceeds the padded input H 4 \(padding 0\)$/,
      );
      assert.throws(() => kernel(0, x, new Float32Array(7), null, m(2, 0)), /^Error: max_pool2d: 'y' holds 7 elements, expected 8$/);
      assert.throws(() => kernel(3, new Int32Array(32), new Int32Array(8), null, m(2, 0)), /^Error: max_pool2d: 'dtype' must be a floating dtype, got int32$/);
    }
    for (const kernel of [native.maxPool2dBackward, maxPool2dBackward]) {
      assert.throws(
        () => kernel(0, y, Int32Array.of(0, 1, 2, 3, 16, 5, 6, 7), x, m(2, 0)),
        /^Error: max_pool2d backward: index 16 at position 4 is outside the input plane \[0, 16\)$/,
      );
    }
    for (const kernel of [native.avgPool2d, avgPool2d]) {
      assert.throws(() => kernel(0, x, y, m(2, 0, 2), true), /^Error: avg_pool2d: average pooling has no dilation, got \[2, 2\]$/);
    }
    for (const kernel of [native.avgPool2dBackward, avgPool2dBackward]) {
      assert.throws(() => kernel(0, y, new Float32Array(31), m(2, 0), false), /^Error: avg_pool2d backward: 'dx' holds 31 elements, expected 32$/);
    }
  });
});
