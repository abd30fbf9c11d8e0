import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { bf16FromF32Bits } from "../../../src/backends/js/bf16.js";
import { cast } from "../../../src/backends/js/cast.js";
import { DTYPE, type Elements } from "../../../src/backends/js/dtype.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertSameBits, EDGE_VALUES, uniformValues } from "./kernel_check.js";

const native = loadNative();

const ALL = [DTYPE.float32, DTYPE.bfloat16, DTYPE.float16, DTYPE.int32];

function arrayOf(dtype: number, n: number): Elements {
  return dtype === DTYPE.float32 ? new Float32Array(n) : dtype === DTYPE.int32 ? new Int32Array(n) : new Uint16Array(n);
}

/** Casts src both ways and asserts the same bits. */
function assertCastMatches(from: number, src: Elements, to: number, what: string): void {
  const a = arrayOf(to, src.length),
    b = arrayOf(to, src.length);
  cast(from, src, to, a);
  native.cast(from, src, to, b);
  assertSameBits(a, b, what);
}

/** Float32 bit patterns that exercise rounding: ties at each width, NaN payloads, subnormals, the f16 overflow edge. */
function f32Patterns(): Uint32Array {
  const bits: number[] = [];
  for (const base of [0x3f800000, 0xbf800000, 0x00000000, 0x7f7f0000, 0x38800000, 0x33800000, 0x477fe000, 0x477ff000, 0x7f800000]) {
    for (const low of [0, 1, 0x0fff, 0x1000, 0x1001, 0x2000, 0x3000, 0x7fff, 0x8000, 0x8001, 0x18000, 0xffff, 0x7fffff])
      bits.push((base | low) >>> 0, (base + low) >>> 0);
  }
  bits.push(0x7fc00000, 0xffc00000, 0x7f800001, 0x7fa00000, 0xff812345, 0x7fffffff);
  for (const w of uniformValues(1, 4096, 0, 2 ** 32)) bits.push(Math.floor(w) >>> 0);
  return Uint32Array.from(bits);
}

describe("cast", () => {
  test("float32 to bf16, f16 and int32 gives native's bits on ties, NaN payloads, subnormals and random bit patterns", () => {
    const src = new Float32Array(f32Patterns().buffer);
    for (const to of [DTYPE.bfloat16, DTYPE.float16, DTYPE.int32, DTYPE.float32]) assertCastMatches(DTYPE.float32, src, to, `float32 -> ${to}`);
  });

  test("every bf16 and every f16 word casts to every dtype as native casts it", () => {
    const words = Uint16Array.from({ length: 65536 }, (_, i) => i);
    for (const from of [DTYPE.bfloat16, DTYPE.float16]) {
      for (const to of ALL) assertCastMatches(from, words, to, `${from} -> ${to}`);
    }
  });

  test("int32 to float32 rounds to nearest even past 2^24, and to itself copies", () => {
    const src = Int32Array.from([
      0,
      1,
      -1,
      2 ** 24 + 1,
      2 ** 24 + 3,
      -(2 ** 31),
      2 ** 31 - 1,
      123456789,
      ...uniformValues(2, 200, -(2 ** 31), 2 ** 31).map(Math.floor),
    ]);
    assertCastMatches(DTYPE.int32, src, DTYPE.float32, "int32 -> float32");
    assertCastMatches(DTYPE.int32, src, DTYPE.int32, "int32 -> int32");
  });

  test("floats to int32 truncate toward zero; NaN and values outside int32 give -2^31", () => {
    const out = new Int32Array(8);
    cast(DTYPE.float32, Float32Array.of(2.9, -2.9, NaN, 3e9, -3e9, -2147483648, Infinity, -0), DTYPE.int32, out);
    assert.deepEqual(Array.from(out), [2, -2, -(2 ** 31), -(2 ** 31), -(2 ** 31), -(2 ** 31), -(2 ** 31), 0]);
  });

  test("bf16 rounds to nearest even: a tie goes to the even word, past it up", () => {
    // 1 + 2^-8 lies halfway between bf16 1 (0x3f80) and 1 + 2^-7 (0x3f81): truncation and
    // round-half-up would both differ from native somewhere in this list.
    const out = new Uint16Array(3);
    cast(DTYPE.float32, Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20), DTYPE.bfloat16, out);
    assert.deepEqual(Array.from(out), [0x3f80, 0x3f82, 0x3f81]);
    assert.equal(bf16FromF32Bits(0x7f800001), 0x7fc0, "a signalling NaN becomes quiet, not infinity");
  });

  test("edge values agree with native between every pair of float dtypes", () => {
    const src = Float32Array.from(EDGE_VALUES);
    for (const to of ALL) assertCastMatches(DTYPE.float32, src, to, `edges -> ${to}`);
  });

  test("rejects what native rejects, with the kernel's name", () => {
    assert.throws(() => cast(DTYPE.int32, new Int32Array(2), DTYPE.bfloat16, new Uint16Array(2)), /^Error: cast: int32 casts only to float32, not bfloat16$/);
    assert.throws(() => cast(DTYPE.float32, new Float32Array(2), DTYPE.bfloat16, new Uint16Array(3)), /^Error: cast: 'dst' holds 3 elements, expected 2$/);
    assert.throws(
      () => cast(DTYPE.float32, new Uint16Array(2), DTYPE.bfloat16, new Uint16Array(2)),
      /^TypeError: cast: 'src' is a Uint16Array, but dtype float32 is stored in a Float32Array$/,
    );
    assert.throws(() => cast(7, new Float32Array(2), DTYPE.bfloat16, new Uint16Array(2)), /^Error: cast: 'srcDtype' is not a dtype code/);
  });
});
