import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { dropout } from "../../../src/backends/js/dropout.js";
import { DTYPE } from "../../../src/backends/js/dtype.js";
import { randomInt, randomNormal, randomUniform } from "../../../src/backends/js/random.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertSameBits, EDGE_VALUES, FLOAT_DTYPES, makeArray, uniformValues, zerosLike } from "./kernel_check.js";

const native = loadNative();

/** (seed, offset) pairs using both key words and both counter words; odd counts leave half a block. */
const STREAMS = [
  [0, 0],
  [42, 7],
  [2 ** 53 - 1, 2 ** 32 - 3],
  [0x123456789ab, 2 ** 40 + 5],
] as const;
const N = 4099;

describe("random kernels give native's bits", () => {
  test("randomUniform in every float dtype, at streams using every key and counter word", () => {
    for (const [seed, offset] of STREAMS) {
      for (const [name, dtype] of FLOAT_DTYPES) {
        for (const [low, high] of [
          [0, 1],
          [-3.3, 1e5],
          [2.5, 2.5],
        ] as const) {
          const js = zerosLike(dtype, N),
            nat = zerosLike(dtype, N);
          randomUniform(dtype, js, seed, offset, low, high);
          native.randomUniform(dtype, nat, seed, offset, low, high);
          assertSameBits(js, nat, `uniform ${name} [${low}, ${high}) seed ${seed} offset ${offset}`);
        }
      }
    }
  });

  test("randomNormal in every float dtype, an odd count included", () => {
    for (const [seed, offset] of STREAMS) {
      for (const [name, dtype] of FLOAT_DTYPES) {
        const js = zerosLike(dtype, N),
          nat = zerosLike(dtype, N);
        randomNormal(dtype, js, seed, offset, 0.5, 3);
        native.randomNormal(dtype, nat, seed, offset, 0.5, 3);
        assertSameBits(js, nat, `normal ${name} seed ${seed} offset ${offset}`);
      }
    }
  });

  test("randomInt over small, odd and full 32-bit ranges (where w·range passes 2^53)", () => {
    for (const [seed, offset] of STREAMS) {
      for (const [low, high] of [
        [0, 10],
        [-7, 1000003],
        [-(2 ** 31), 2 ** 31],
        [5, 6],
        [-(2 ** 31), 2 ** 31 - 1],
      ] as const) {
        const js = new Int32Array(N),
          nat = new Int32Array(N);
        randomInt(js, seed, offset, low, high);
        native.randomInt(nat, seed, offset, low, high);
        assertSameBits(js, nat, `int [${low}, ${high}) seed ${seed} offset ${offset}`);
      }
    }
  });

  test("dropout in every float dtype and p, with NaN and inf propagating through dropped elements", () => {
    for (const [name, dtype] of FLOAT_DTYPES) {
      const x = makeArray(dtype, [...uniformValues(3, N, -2, 2), ...EDGE_VALUES]);
      for (const p of [0, 0.1, 0.5, 0.999, 1]) {
        const js = zerosLike(dtype, x.length),
          nat = zerosLike(dtype, x.length);
        dropout(dtype, x, js, 11, 3, p);
        native.dropout(dtype, x, nat, 11, 3, p);
        assertSameBits(js, nat, `dropout ${name} p ${p}`);
      }
    }
  });

  test("bad streams, bounds and probabilities throw errors that start with the kernel's name", () => {
    const out = new Float32Array(8);
    assert.throws(() => randomUniform(DTYPE.float32, out, -1, 0, 0, 1), /^Error: randomUniform: seed must be a non-negative safe integer, got -1$/);
    assert.throws(
      () => randomUniform(DTYPE.float32, new Float32Array(12), 1, 2 ** 53 - 1, 0, 1),
      /^Error: randomUniform: offset 9007199254740991 leaves too few counters for 12 draws$/,
    );
    assert.throws(() => randomUniform(DTYPE.float32, out, 1, 0, 2, 1), /^Error: randomUniform: bounds must be finite with low <= high, got \[2, 1\)$/);
    assert.throws(() => randomNormal(DTYPE.float32, out, 1, 0, 0, -1), /^Error: randomNormal: mean must be finite and std finite and >= 0, got 0 and -1$/);
    assert.throws(() => randomInt(new Int32Array(2), 1, 0, 3, 3), /^Error: randomInt: bounds must satisfy -2\^31 <= low < high <= 2\^31, got \[3, 3\)$/);
    assert.throws(() => dropout(DTYPE.float32, out, out, 1, 0, 1.5), /^Error: dropout: p must be a probability in \[0, 1\], got 1.5$/);
    assert.throws(() => dropout(DTYPE.float32, out, new Float32Array(7), 1, 0, 0.5), /^Error: dropout: 'out' holds 7 elements, expected 8$/);
  });
});
