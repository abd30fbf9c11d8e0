import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { conv2d, conv2dBackwardData, conv2dBackwardWeights } from "../../../src/backends/js/conv2d.js";
import { DTYPE, dtypeName } from "../../../src/backends/js/dtype.js";
import { Rng } from "../../../src/data/random.js";
import { native } from "../../../src/tensor/native.js";
import { assertNearNative, valuesOf, zerosLike } from "./kernel_check.js";
import { absF32, random } from "./oracle_check.js";

interface Conv {
  n: number; c: number; h: number; w: number; o: number; kh: number; kw: number;
  stride?: [number, number]; padding?: [number, number]; dilation?: [number, number]; groups?: number; nhwc?: boolean;
}

// Odd sizes, strides, padding, dilation, groups (depthwise too), both layouts, an empty batch,
// and a few-channel channels-last convolution that native runs on its direct kernels, not oneDNN.
const CASES: Conv[] = [
  { n: 2, c: 3, h: 7, w: 6, o: 4, kh: 3, kw: 3, padding: [1, 1] },
  { n: 1, c: 4, h: 9, w: 8, o: 6, kh: 3, kw: 2, stride: [2, 1], padding: [1, 0], dilation: [2, 1], groups: 2 },
  { n: 3, c: 6, h: 5, w: 5, o: 3, kh: 1, kw: 1, groups: 3, nhwc: true },
  { n: 2, c: 2, h: 8, w: 7, o: 4, kh: 2, kw: 3, stride: [3, 2], padding: [1, 2], dilation: [1, 2], nhwc: true },
  { n: 1, c: 4, h: 6, w: 6, o: 4, kh: 3, kw: 3, padding: [1, 1], groups: 4 },
  { n: 2, c: 1, h: 10, w: 9, o: 16, kh: 3, kw: 3, nhwc: true },
  { n: 0, c: 3, h: 5, w: 5, o: 2, kh: 3, kw: 3 },
];

function meta(c: Conv): Int32Array {
  const [sh, sw] = c.stride ?? [1, 1], [ph, pw] = c.padding ?? [0, 0], [dh, dw] = c.dilation ?? [1, 1];
  return Int32Array.of(c.n, c.c, c.h, c.w, c.o, c.kh, c.kw, sh, sw, ph, pw, dh, dw, c.groups ?? 1, c.nhwc ? 1 : 0);
}

function sizes(c: Conv): { x: number; w: number; y: number; oh: number; ow: number } {
  const m = meta(c);
  const extent = (input: number, k: number, s: number, p: number, d: number): number => Math.floor((input + 2 * p - d * (k - 1) - 1) / s) + 1;
  const oh = extent(c.h, c.kh, m[7]!, m[9]!, m[11]!), ow = extent(c.w, c.kw, m[8]!, m[10]!, m[12]!);
  return { x: c.n * c.c * c.h * c.w, w: c.o * (c.c / (c.groups ?? 1)) * c.kh * c.kw, y: c.n * c.o * oh * ow, oh, ow };
}

function caseName(c: Conv): string {
  return `${JSON.stringify(c)}`;
}

describe("js conv2d against native", () => {
  for (const dt of [DTYPE.float32, DTYPE.bfloat16]) {
    test(`${dtypeName(dt)} forward: within (C/groups·kh·kw + 2)·u of Σ|x·w| + |bias|`, () => {
      const rng = Rng.seeded(11, dt);
      for (const c of CASES) {
        const z = sizes(c), m = meta(c);
        const x = random(rng, dt, z.x), w = random(rng, dt, z.w), bias = random(rng, DTYPE.float32, c.o) as Float32Array;
        for (const b of [bias, null]) {
          const expected = zerosLike(dt, z.y), actual = zerosLike(dt, z.y), magnitude = new Float32Array(z.y);
          native.conv2d(x, w, b, expected, dt, m);
          conv2d(x, w, b, actual, dt, m);
          conv2d(absF32(dt, x), absF32(dt, w), b && absF32(DTYPE.float32, b), magnitude, DTYPE.float32, m);
          const k = (c.c / (c.groups ?? 1)) * c.kh * c.kw;
          assertNearNative(dt, valuesOf(dt, actual), valuesOf(dt, expected), k + 2, (i) => magnitude[i]!, `${caseName(c)}${b ? ", bias" : ""}`);
        }
      }
    });

    test(`${dtypeName(dt)} backward-data: within (O/groups·kh·kw + 2)·u of Σ|dy·w|`, () => {
      const rng = Rng.seeded(12, dt);
      for (const c of CASES) {
        const z = sizes(c), m = meta(c);
        const dy = random(rng, dt, z.y), w = random(rng, dt, z.w);
        const expected = zerosLike(dt, z.x), actual = zerosLike(dt, z.x), magnitude = new Float32Array(z.x);
        native.conv2dBackwardData(dy, w, expected, dt, m);
        conv2dBackwardData(dy, w, actual, dt, m);
        conv2dBackwardData(absF32(dt, dy), absF32(dt, w), magnitude, DTYPE.float32, m);
        const k = (c.o / (c.groups ?? 1)) * c.kh * c.kw;
        assertNearNative(dt, valuesOf(dt, actual), valuesOf(dt, expected), k + 2, (i) => magnitude[i]!, caseName(c));
      }
    });

    const wgradDtypes = dt === DTYPE.float32 ? [DTYPE.float32] : [DTYPE.float32, DTYPE.bfloat16];
    for (const dwDt of wgradDtypes) {
      test(`${dtypeName(dt)} backward-weights into ${dtypeName(dwDt)}: within (N·OH·OW + 2)·u of Σ|x·dy|`, () => {
        const rng = Rng.seeded(13, dt * 2 + dwDt);
        for (const c of CASES) {
          const z = sizes(c), m = meta(c);
          const x = random(rng, dt, z.x), dy = random(rng, dt, z.y);
          // Filled with garbage: both kernels overwrite, even over an empty batch.
          const expected = random(rng, dwDt, z.w), actual = expected.slice();
          const dbExpected = random(rng, DTYPE.float32, c.o) as Float32Array, dbActual = dbExpected.slice();
          const magnitude = new Float32Array(z.w), dbMagnitude = new Float32Array(c.o);
          native.conv2dBackwardWeights(x, dy, expected, dbExpected, dt, dwDt, m);
          conv2dBackwardWeights(x, dy, actual, dbActual, dt, dwDt, m);
          conv2dBackwardWeights(absF32(dt, x), absF32(dt, dy), magnitude, dbMagnitude, DTYPE.float32, DTYPE.float32, m);
          const k = c.n * z.oh * z.ow;
          assertNearNative(dwDt, valuesOf(dwDt, actual), valuesOf(dwDt, expected), k + 2, (i) => magnitude[i]!, `${caseName(c)}: dw`);
          assertNearNative(DTYPE.float32, valuesOf(DTYPE.float32, dbActual), valuesOf(DTYPE.float32, dbExpected), k + 2, (i) => dbMagnitude[i]!, `${caseName(c)}: dbias`);
        }
      });
    }
  }

  test("checks metas, dtypes and lengths with native's messages", () => {
    const x = new Float32Array(2 * 4 * 5 * 5), y = new Float32Array(2 * 3 * 3 * 3);
    const m = (groups: number, layout = 0, kh = 3): Int32Array => Int32Array.of(2, 4, 5, 5, 3, kh, 3, 1, 1, 0, 0, 1, 1, groups, layout);
    const forwards = [native.conv2d, conv2d];
    for (const kernel of forwards) {
      assert.throws(() => kernel(x, new Float32Array(3 * 2 * 9), null, y, 0, m(2)), /^Error: conv2d: groups must divide the input channels and the output channels: input \[2, 4, 5, 5\], weight \[3, C\/groups, 3, 3\], groups 2$/);
      assert.throws(() => kernel(x, new Float32Array(10), null, y, 0, m(1)), /^Error: conv2d: 'weight' holds 10 elements, expected 108$/);
      assert.throws(() => kernel(x, new Float32Array(108), null, y, 2, m(1)), /^Error: conv2d: 'dtype' must be float32 or bfloat16 \(oneDNN has no float16 convolution on CPU\)$/);
      assert.throws(() => kernel(x, new Float32Array(108), null, y, 0, m(1, 2)), /^Error: conv2d: layout code must be 0 \(NCHW\) or 1 \(NHWC\), got 2$/);
      assert.throws(() => kernel(x, new Float32Array(4 * 3 * 7 * 3), null, y, 0, m(1, 0, 7)),
        /^Error: conv2d: kernel H extent 7 \(dilation 1\) exceeds the padded input H 5 \(padding 0\); input \[2, 4, 5, 5\]/);
      assert.throws(() => kernel(x, new Float32Array(108), new Float32Array(2), y, 0, m(1)), /^Error: conv2d: 'bias' holds 2 elements, expected 3$/);
      assert.throws(() => kernel(x, new Float32Array(108), null, y, 0, new Int32Array(14)), /^Error: conv2d: 'meta' holds 14 entries, expected at least 15$/);
    }
    for (const kernel of [native.conv2dBackwardWeights, conv2dBackwardWeights]) {
      assert.throws(() => kernel(x, y, new Uint16Array(108), null, 0, 1, m(1)),
        /^Error: conv2d backward-weights: a bfloat16 weight gradient needs bfloat16 operands, got float32$/);
    }
    for (const kernel of [native.conv2dBackwardData, conv2dBackwardData]) {
      assert.throws(() => kernel(y, new Float32Array(108), new Float32Array(3), 0, m(1)), /^Error: conv2d backward-data: 'dx' holds 3 elements, expected 200$/);
    }
  });
});
