/**
 * What the js kernel tests share: seeded inputs in every dtype with the edge values kernels
 * get wrong, and comparisons with the native kernel, bit for bit or within a bound derived
 * from float32 rounding.
 */
import assert from "node:assert/strict";

import { decode, DTYPE, encode, type Elements } from "../../../src/backends/js/dtype.js";
import { streamWordArray } from "../../../src/backends/js/philox.js";

/** The floating dtype codes, with names for messages. */
export const FLOAT_DTYPES = [
  ["float32", DTYPE.float32],
  ["bfloat16", DTYPE.bfloat16],
  ["float16", DTYPE.float16],
] as const;

/** Unit roundoff (half an ulp of 1) of each floating dtype: a rounding moves a value by at most this, relatively. */
export const UNIT_ROUNDOFF: Record<number, number> = { [DTYPE.float32]: 2 ** -24, [DTYPE.bfloat16]: 2 ** -8, [DTYPE.float16]: 2 ** -11 };

/** Half the smallest subnormal of each dtype: the absolute rounding error below the normal range. */
const SUBNORMAL_HALF: Record<number, number> = { [DTYPE.float32]: 2 ** -150, [DTYPE.bfloat16]: 2 ** -134, [DTYPE.float16]: 2 ** -25 };

/** Values that break careless kernels: signed zeros, NaN, infinities, ties, extremes, subnormals. */
export const EDGE_VALUES = [0, -0, 1, -1, 0.5, -2.5, NaN, Infinity, -Infinity, 65504, -3e38, 1e-40, -1e-6, 3.0517578125e-5];

/** n seeded values uniform in [low, high). */
export function uniformValues(seed: number, n: number, low: number, high: number): number[] {
  return Array.from(streamWordArray(seed, 0, n), (w) => low + ((high - low) * w) / 2 ** 32);
}

/** An array of `dtype` holding `values` rounded to it. */
export function makeArray(dtype: number, values: readonly number[]): Elements {
  const out =
    dtype === DTYPE.float32 ? new Float32Array(values.length) : dtype === DTYPE.int32 ? new Int32Array(values.length) : new Uint16Array(values.length);
  encode(dtype, values, out);
  return out;
}

/** The values of an array of `dtype`. */
export function valuesOf(dtype: number, array: Elements): number[] {
  return Array.from(decode(dtype, array));
}

/** A zeroed array of `dtype` and length n. */
export function zerosLike(dtype: number, n: number): Elements {
  return makeArray(dtype, new Array<number>(n).fill(0));
}

/** Asserts two typed arrays hold the same bits. */
export function assertSameBits(actual: ArrayBufferView, expected: ArrayBufferView, what: string): void {
  const a = new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength);
  const e = new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength);
  assert.equal(a.length, e.length, `${what}: byte length`);
  const i = a.findIndex((v, k) => v !== e[k]);
  assert.ok(i < 0, `${what}: first differing byte ${i} (of element ${Math.floor(i / ((actual as Uint8Array).BYTES_PER_ELEMENT ?? 1))})`);
}

/**
 * Asserts |js − native| ≤ ulps·2^-24·scale(i) + 2·u·max(|js|, |native|) + the dtype's subnormal
 * half-step, element by element: native computes in float32 (each operation moves a result by
 * at most 2^-24 relatively, and `ulps`·scale bounds how far those roundings carry), then both
 * round once to the dtype (u, its unit roundoff), which can land them on neighbouring values.
 * NaN must meet NaN, and an infinity the same infinity.
 */
export function assertNearNative(dtype: number, js: readonly number[], nat: readonly number[], ulps: number, scale: (i: number) => number, what: string): void {
  assert.equal(js.length, nat.length, `${what}: element count`);
  const u = dtype === DTYPE.float32 ? 0 : UNIT_ROUNDOFF[dtype]!;
  for (let i = 0; i < js.length; i++) {
    const a = js[i]!,
      b = nat[i]!;
    if (Number.isNaN(a) || Number.isNaN(b) || !Number.isFinite(a) || !Number.isFinite(b)) {
      assert.ok(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)), `${what}: element ${i} is ${a} in js, ${b} in native`);
      continue;
    }
    const bound = ulps * 2 ** -24 * scale(i) + 2 * u * Math.max(Math.abs(a), Math.abs(b)) + 2 * SUBNORMAL_HALF[dtype]!;
    assert.ok(Math.abs(a - b) <= bound, `${what}: element ${i} is ${a} in js, ${b} in native (|diff| ${Math.abs(a - b)} > bound ${bound})`);
  }
}
