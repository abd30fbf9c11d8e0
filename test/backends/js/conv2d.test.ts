import assert from "node:assert/strict";
import { describe, test } from "node:test";

import fc from "fast-check";

import { conv2d, conv2dBackwardData, conv2dBackwardWeights, conv2dBackwardWeightsGemm, conv2dGemm } from "../../../src/backends/js/conv2d.js";
import { DTYPE, dtypeName } from "../../../src/backends/js/dtype.js";
import { Rng } from "../../../src/data/random.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, valuesOf } from "./kernel_check.js";
import { absF32, random } from "./oracle_check.js";

const native = loadNative();

interface Conv {
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
  groups?: number;
  nhwc?: boolean;
}

// Odd sizes, strides, padding, dilation, groups (depthwise too), both layouts, an empty batch,
// a few-channel channels-last convolution that native runs on its direct kernels, not oneDNN,
// and one over many pixels.
const CASES: Conv[] = [
  { n: 2, c: 3, h: 7, w: 6, o: 4, kh: 3, kw: 3, padding: [1, 1] },
  { n: 1, c: 4, h: 9, w: 8, o: 6, kh: 3, kw: 2, stride: [2, 1], padding: [1, 0], dilation: [2, 1], groups: 2 },
  { n: 3, c: 6, h: 5, w: 5, o: 3, kh: 1, kw: 1, groups: 3, nhwc: true },
  { n: 2, c: 2, h: 8, w: 7, o: 4, kh: 2, kw: 3, stride: [3, 2], padding: [1, 2], dilation: [1, 2], nhwc: true },
  { n: 1, c: 4, h: 6, w: 6, o: 4, kh: 3, kw: 3, padding: [1, 1], groups: 4 },
  { n: 2, c: 1, h: 10, w: 9, o: 16, kh: 3, kw: 3, nhwc: true },
  { n: 0, c: 3, h: 5, w: 5, o: 2, kh: 3, kw: 3 },
  // Padded and large enough that native's patch-and-product weight gradient fills its patch
  // buffer more than once per thread (a padded tap left unwritten would keep an earlier pixel's value).
  { n: 4, c: 32, h: 16, w: 16, o: 8, kh: 3, kw: 3, padding: [1, 1], nhwc: true },
];

function meta(c: Conv): Int32Array {
  const [sh, sw] = c.stride ?? [1, 1],
    [ph, pw] = c.padding ?? [0, 0],
    [dh, dw] = c.dilation ?? [1, 1];
  return Int32Array.of(c.n, c.c, c.h, c.w, c.o, c.kh, c.kw, sh, sw, ph, pw, dh, dw, c.groups ?? 1, c.nhwc ? 1 : 0);
}

function sizes(c: Conv): { x: number; w: number; y: number; oh: number; ow: number } {
  const m = meta(c);
  const extent = (input: number, k: number, s: number, p: number, d: number): number => Math.floor((input + 2 * p - d * (k - 1) - 1) / s) + 1;
  const oh = extent(c.h, c.kh, m[7]!, m[9]!, m[11]!),
    ow = extent(c.w, c.kw, m[8]!, m[10]!, m[12]!);
  return { x: c.n * c.c * c.h * c.w, w: c.o * (c.c / (c.groups ?? 1)) * c.kh * c.kw, y: c.n * c.o * oh * ow, oh, ow };
}

/** Whether native's patch-and-product kernels take the convolution: float32, channels-last, ungrouped. */
const productsTake = (c: Conv, dt: number, dwDt: number): boolean => dt === DTYPE.float32 && dwDt === DTYPE.float32 && c.nhwc === true && (c.groups ?? 1) === 1;

/**
 * Runs the forward, backward-data and backward-weights kernels natively and in js on seeded
 * operands of one convolution, and asserts each js result within (K + 2)·u of its Σ|a·b| (the
 * js kernel on absolute values), K each kernel's reduction length. Outputs start as the same
 * garbage: every kernel overwrites, even over an empty batch. dwDt: the weight gradient's dtype.
 */
function compareConv(c: Conv, dt: number, dwDt: number, rng: Rng): void {
  const z = sizes(c),
    m = meta(c),
    what = JSON.stringify(c),
    groups = c.groups ?? 1;
  const x = random(rng, dt, z.x),
    w = random(rng, dt, z.w),
    dy = random(rng, dt, z.y);
  const bias = random(rng, DTYPE.float32, c.o) as Float32Array;
  for (const b of [bias, null]) {
    const expected = random(rng, dt, z.y),
      actual = expected.slice(),
      magnitude = new Float32Array(z.y);
    native.conv2d(x, w, b, expected, dt, m);
    conv2d(x, w, b, actual, dt, m);
    conv2d(absF32(dt, x), absF32(dt, w), b && absF32(DTYPE.float32, b), magnitude, DTYPE.float32, m);
    assertNearNative(
      dt,
      valuesOf(dt, actual),
      valuesOf(dt, expected),
      (c.c / groups) * c.kh * c.kw + 2,
      (i) => magnitude[i]!,
      `${what}${b ? ", bias" : ""}: y`,
    );
    if (!productsTake(c, dt, dt)) continue;
    // The patch-and-product forward: the same sums, within the same bound.
    for (const [name, kernel] of [
      ["native gemm", native.conv2dGemm],
      ["js gemm", conv2dGemm],
    ] as const) {
      const y = random(rng, dt, z.y);
      kernel(x, w, b, y, dt, m);
      assertNearNative(dt, valuesOf(dt, actual), valuesOf(dt, y), c.c * c.kh * c.kw + 2, (i) => magnitude[i]!, `${what}${b ? ", bias" : ""}: ${name} y`);
    }
  }

  const dxExpected = random(rng, dt, z.x),
    dxActual = dxExpected.slice(),
    dxMagnitude = new Float32Array(z.x);
  native.conv2dBackwardData(dy, w, dxExpected, dt, m);
  conv2dBackwardData(dy, w, dxActual, dt, m);
  conv2dBackwardData(absF32(dt, dy), absF32(dt, w), dxMagnitude, DTYPE.float32, m);
  assertNearNative(dt, valuesOf(dt, dxActual), valuesOf(dt, dxExpected), (c.o / groups) * c.kh * c.kw + 2, (i) => dxMagnitude[i]!, `${what}: dx`);

  const dwExpected = random(rng, dwDt, z.w),
    dwActual = dwExpected.slice(),
    dwMagnitude = new Float32Array(z.w);
  const dbExpected = random(rng, DTYPE.float32, c.o) as Float32Array,
    dbActual = dbExpected.slice(),
    dbMagnitude = new Float32Array(c.o);
  native.conv2dBackwardWeights(x, dy, dwExpected, dbExpected, dt, dwDt, m);
  conv2dBackwardWeights(x, dy, dwActual, dbActual, dt, dwDt, m);
  conv2dBackwardWeights(absF32(dt, x), absF32(dt, dy), dwMagnitude, dbMagnitude, DTYPE.float32, DTYPE.float32, m);
  const k = c.n * z.oh * z.ow + 2;
  assertNearNative(dwDt, valuesOf(dwDt, dwActual), valuesOf(dwDt, dwExpected), k, (i) => dwMagnitude[i]!, `${what}: dw`);
  assertNearNative(DTYPE.float32, valuesOf(DTYPE.float32, dbActual), valuesOf(DTYPE.float32, dbExpected), k, (i) => dbMagnitude[i]!, `${what}: dbias`);
  if (!productsTake(c, dt, dwDt)) return;
  // The patch-and-product weight gradient: the same sums, within the same bound.
  for (const [name, kernel] of [
    ["native gemm", native.conv2dBackwardWeightsGemm],
    ["js gemm", conv2dBackwardWeightsGemm],
  ] as const) {
    const dw = random(rng, dwDt, z.w),
      db = random(rng, DTYPE.float32, c.o) as Float32Array;
    kernel(x, dy, dw, db, dt, dwDt, m);
    assertNearNative(dwDt, valuesOf(dwDt, dwActual), valuesOf(dwDt, dw), k, (i) => dwMagnitude[i]!, `${what}: ${name} dw`);
    assertNearNative(DTYPE.float32, valuesOf(DTYPE.float32, dbActual), valuesOf(DTYPE.float32, db), k, (i) => dbMagnitude[i]!, `${what}: ${name} dbias`);
  }
}

// The (operand, weight-gradient) dtype pairs native takes (float16 through float32).
const DTYPE_PAIRS: [number, number][] = [
  [DTYPE.float32, DTYPE.float32],
  [DTYPE.bfloat16, DTYPE.float32],
  [DTYPE.bfloat16, DTYPE.bfloat16],
  [DTYPE.float16, DTYPE.float32],
  [DTYPE.float16, DTYPE.float16],
];

// Any geometry native takes: every extent, stride, padding, dilation and group count small, the
// input at least the dilated kernel's span once padded.
const anyConv: fc.Arbitrary<Conv> = fc
  .record({
    n: fc.integer({ min: 0, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    perGroupIn: fc.integer({ min: 1, max: 3 }),
    perGroupOut: fc.integer({ min: 1, max: 3 }),
    kh: fc.integer({ min: 1, max: 4 }),
    kw: fc.integer({ min: 1, max: 4 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    padding: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    extra: fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 })),
    nhwc: fc.boolean(),
  })
  .map(({ perGroupIn, perGroupOut, extra, ...g }) => ({
    ...g,
    c: g.groups * perGroupIn,
    o: g.groups * perGroupOut,
    h: Math.max(1, g.dilation[0] * (g.kh - 1) + 1 - 2 * g.padding[0] + extra[0]),
    w: Math.max(1, g.dilation[1] * (g.kw - 1) + 1 - 2 * g.padding[1] + extra[1]),
  }));

describe("js conv2d against native", () => {
  for (const [dt, dwDt] of DTYPE_PAIRS) {
    test(`${dtypeName(dt)} operands, ${dtypeName(dwDt)} weight gradient: forward and both gradients on every listed case`, () => {
      const rng = Rng.seeded(11, dt * 2 + dwDt);
      for (const c of CASES) compareConv(c, dt, dwDt, rng);
    });
  }

  test("forward and both gradients on 60 arbitrary geometries (seeded fast-check)", () => {
    fc.assert(
      fc.property(anyConv, fc.constantFrom(...DTYPE_PAIRS), fc.nat(), (c, [dt, dwDt], seed) => compareConv(c, dt, dwDt, Rng.seeded(seed))),
      { seed: 14, numRuns: 60 },
    );
  });

  test("checks metas, dtypes and lengths with native's messages", () => {
    const x = new Float32Array(2 * 4 * 5 * 5),
      y = new Float32Array(2 * 3 * 3 * 3);
    const m = (groups: number, layout = 0, kh = 3): Int32Array => Int32Array.of(2, 4, 5, 5, 3, kh, 3, 1, 1, 0, 0, 1, 1, groups, layout);
    const forwards = [native.conv2d, conv2d];
    for (const kernel of forwards) {
      assert.throws(
        () => kernel(x, new Float32Array(3 * 2 * 9), null, y, 0, m(2)),
        /^Error: conv2d: groups must divide the input channels and the output channels: input \[2, 4, 5, 5\], weight \[3, C\/groups, 3, 3\], groups 2$/,
      );
      assert.throws(() => kernel(x, new Float32Array(10), null, y, 0, m(1)), /^Error: conv2d: 'weight' holds 10 elements, expected 108$/);
      assert.throws(() => kernel(x, new Float32Array(108), null, y, 3, m(1)), /^Error: conv2d: 'dtype' must be a floating dtype, got int32$/);
      assert.throws(() => kernel(x, new Float32Array(108), null, y, 0, m(1, 2)), /^Error: conv2d: layout code must be 0 \(NCHW\) or 1 \(NHWC\), got 2$/);
      assert.throws(
        () => kernel(x, new Float32Array(4 * 3 * 7 * 3), null, y, 0, m(1, 0, 7)),
        /^Error: conv2d: kernel H extent 7 \(dilation 1\) exceeds the padded input H 5 \(padding 0\); input \[2, 4, 5, 5\]/,
      );
      assert.throws(() => kernel(x, new Float32Array(108), new Float32Array(2), y, 0, m(1)), /^Error: conv2d: 'bias' holds 2 elements, expected 3$/);
      assert.throws(() => kernel(x, new Float32Array(108), null, y, 0, new Int32Array(14)), /^Error: conv2d: 'meta' holds 14 entries, expected at least 15$/);
    }
    for (const kernel of [native.conv2dBackwardWeights, conv2dBackwardWeights]) {
      assert.throws(
        () => kernel(x, y, new Uint16Array(108), null, 0, 1, m(1)),
        /^Error: conv2d backward-weights: a bfloat16 weight gradient needs bfloat16 operands, got float32$/,
      );
    }
    const grouped = Int32Array.of(2, 4, 5, 5, 4, 3, 3, 1, 1, 0, 0, 1, 1, 2, 1);
    for (const kernel of [native.conv2dGemm, conv2dGemm]) {
      assert.throws(
        () => kernel(new Uint16Array(200), new Uint16Array(108), null, y, 1, m(1, 1)),
        /^Error: conv2d \(gemm\): the products take float32 only, got bfloat16$/,
      );
      for (const meta of [m(1, 0), grouped])
        assert.throws(() => kernel(x, new Float32Array(108), null, y, 0, meta), /^Error: conv2d \(gemm\): the products take NHWC ungrouped convolutions only$/);
      assert.throws(
        () => kernel(x, new Float32Array(108), null, new Float32Array(3), 0, m(1, 1)),
        /^Error: conv2d \(gemm\): 'y' holds 3 elements, expected 54$/,
      );
    }
    for (const kernel of [native.conv2dBackwardWeightsGemm, conv2dBackwardWeightsGemm]) {
      assert.throws(
        () => kernel(x, y, new Uint16Array(108), null, 0, 1, m(1, 1)),
        /^Error: conv2d backward-weights \(gemm\): the products take float32 only, got bfloat16$/,
      );
      for (const meta of [m(1, 0), grouped])
        assert.throws(
          () => kernel(x, y, new Float32Array(108), null, 0, 0, meta),
          /^Error: conv2d backward-weights \(gemm\): the products take NHWC ungrouped convolutions only$/,
        );
      assert.throws(
        () => kernel(x, y, new Float32Array(5), null, 0, 0, m(1, 1)),
        /^Error: conv2d backward-weights \(gemm\): 'dw' holds 5 elements, expected 108$/,
      );
    }
    for (const kernel of [native.conv2dBackwardData, conv2dBackwardData]) {
      assert.throws(() => kernel(y, new Float32Array(108), new Float32Array(3), 0, m(1)), /^Error: conv2d backward-data: 'dx' holds 3 elements, expected 200$/);
    }
  });
});
