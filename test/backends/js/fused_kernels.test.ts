// The fused kernels (matmulGelu, geluBiasBackward, addLayerNorm and its backward): native
// against the unfused native kernels they replace (bit for bit where they share code) and
// against the js oracle within float32 rounding bounds.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { addLayerNorm, addLayerNormBackward } from "../../../src/backends/js/add_layer_norm.js";
import { decode, DTYPE, dtypeName } from "../../../src/backends/js/dtype.js";
import { geluBiasBackward, matmulGelu } from "../../../src/backends/js/linear_gelu.js";
import { matmul } from "../../../src/backends/js/matmul.js";
import { geluErf } from "../../../src/backends/js/unary.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { Rng } from "../../../src/data/random.js";
import { assertNearNative, assertSameBits, valuesOf, zerosLike } from "./kernel_check.js";
import { absF32, random } from "./oracle_check.js";

const native = loadNative();
const GELU = native.unaryCodes().forward.gelu_erf!;
const GELU_GRAD = native.unaryCodes().backward.gelu_erf!;

// [M, N, K]: one row, a ragged block, and a product past the element-wise threading grain.
const SHAPES: [number, number, number][] = [
  [1, 3, 5],
  [7, 33, 19],
  [600, 64, 24],
];

/** Linear's meta: x [M, K] · wᵀ (w [N, K]). */
function linearMeta(m: number, n: number, k: number): Int32Array {
  return Int32Array.of(1, 1, m, n, k, 0, 1, 0, 0, 0, 0, 0, 0);
}

describe("matmulGelu", () => {
  for (const dt of [DTYPE.float32, DTYPE.bfloat16]) {
    test(`${dtypeName(dt)}: the pre-activation is matmul's and c the unary kernel's GELU of it, bit for bit, with or without it; the js oracle agrees within rounding`, () => {
      const rng = Rng.seeded(61, dt);
      for (const [m, n, k] of SHAPES) {
        const what = `[${m}, ${n}, ${k}]`;
        const [a, b, bias] = [random(rng, dt, m * k), random(rng, dt, n * k), random(rng, DTYPE.float32, n) as Float32Array];
        const meta = linearMeta(m, n, k);
        const product = zerosLike(dt, m * n);
        native.matmul(a, b, product, bias, dt, dt, meta);
        const [pre, c] = [zerosLike(dt, m * n), zerosLike(dt, m * n)];
        native.matmulGelu(a, b, c, bias, dt, dt, meta, pre);
        assertSameBits(pre, product, `${what}: pre-activation`);
        const gelu = zerosLike(dt, m * n);
        native.unary(GELU, dt, product, gelu, 0);
        assertSameBits(c, gelu, `${what}: c`);

        // The scale of each output: Σ|a||b| + |bias| (GELU's slope is at most 1.13).
        const scale = zerosLike(DTYPE.float32, m * n) as Float32Array;
        matmul(absF32(dt, a), absF32(dt, b), scale, absF32(DTYPE.float32, bias), DTYPE.float32, DTYPE.float32, meta);
        const alone = zerosLike(dt, m * n);
        native.matmulGelu(a, b, alone, bias, dt, dt, meta, null);
        assertSameBits(alone, c, `${what}: c without the pre-activation`);
        const [jsPre, jsC] = [zerosLike(dt, m * n), zerosLike(dt, m * n)];
        matmulGelu(a, b, jsC, bias, dt, dt, meta, jsPre);
        assertNearNative(dt, valuesOf(dt, jsPre), valuesOf(dt, pre), 2 * k, (i) => scale[i]!, `${what}: js pre-activation`);
        // c is GELU of the stored pre-activation: native's erf is within 4.3e-7 of the exact one.
        const stored = valuesOf(dt, pre);
        assertNearNative(dt, valuesOf(dt, c), stored.map(geluErf), 16, (i) => Math.abs(stored[i]!) + 1, `${what}: c against the exact GELU`);
        // Where both sides stored the same pre-activation, js's c is that exact GELU too.
        const jsStored = valuesOf(dt, jsPre);
        const same = stored.flatMap((v, i) => (jsStored[i] === v ? [i] : []));
        const [jsCv, cv] = [valuesOf(dt, jsC), valuesOf(dt, c)];
        assertNearNative(
          dt,
          same.map((i) => jsCv[i]!),
          same.map((i) => cv[i]!),
          16,
          (j) => Math.abs(stored[same[j]!]!) + 1,
          `${what}: js c`,
        );
      }
    });
  }

  test("accumulate is refused before anything is written", () => {
    const c = new Float32Array(4).fill(7);
    const meta = Int32Array.of(1, 1, 2, 2, 1, 0, 1, 1, 0, 0, 0, 0, 0);
    for (const kernel of [native.matmulGelu, matmulGelu]) {
      assert.throws(() => kernel(new Float32Array(2), new Float32Array(2), c, null, 0, 0, meta, null), /^Error: matmulGelu: accumulate must be 0/);
    }
    assert.deepEqual([...c], [7, 7, 7, 7]);
  });
});

describe("geluBiasBackward", () => {
  for (const dt of [DTYPE.float32, DTYPE.bfloat16]) {
    test(`${dtypeName(dt)}: dz is the unary GELU backward, bit for bit; dbias the js oracle's column sums within rounding`, () => {
      const rng = Rng.seeded(67, dt);
      // 1100 rows of 64: two chunks of rows past the threading grain (32768 elements).
      for (const [rows, cols] of [
        [1, 5],
        [9, 31],
        [1100, 64],
      ] as [number, number][]) {
        const what = `[${rows}, ${cols}]`;
        const n = rows * cols;
        const [g, z] = [random(rng, dt, n), random(rng, dt, n, 3)];
        const [dz, dbias] = [zerosLike(dt, n), new Float32Array(cols).fill(9)];
        native.geluBiasBackward(dt, g, z, dz, dbias, rows, cols);
        const unfused = zerosLike(dt, n);
        native.unaryBackward(GELU_GRAD, dt, g, z, unfused, 0);
        assertSameBits(dz, unfused, `${what}: dz`);
        const [jsDz, jsDbias] = [zerosLike(dt, n), new Float32Array(cols)];
        geluBiasBackward(dt, g, z, jsDz, jsDbias, rows, cols);
        const stored = decode(dt, dz);
        const columnScale = (j: number): number => {
          let s = 0;
          for (let r = 0; r < rows; r++) s += Math.abs(stored[r * cols + j]!);
          return s;
        };
        // float32 sums in blocks of 32 rows; the two sides' dz may differ by a rounding of dt.
        const ulps = dt === DTYPE.float32 ? 64 : 2 ** 17;
        assertNearNative(DTYPE.float32, Array.from(jsDbias), Array.from(dbias), ulps, columnScale, `${what}: dbias`);
        const nullBias = zerosLike(dt, n);
        native.geluBiasBackward(dt, g, z, nullBias, null, rows, cols);
        assertSameBits(nullBias, dz, `${what}: dz without dbias`);
      }
    });
  }
});

// [x's dtype, r's dtype, y's dtype]: float32 throughout, a bf16 branch of a float32 stream (into a
// float32 or a bf16 y: autocast), and bf16 throughout.
const ADD_DTYPES: [number, number, number][] = [
  [DTYPE.float32, DTYPE.float32, DTYPE.float32],
  [DTYPE.float32, DTYPE.bfloat16, DTYPE.float32],
  [DTYPE.float32, DTYPE.bfloat16, DTYPE.bfloat16],
  [DTYPE.bfloat16, DTYPE.bfloat16, DTYPE.bfloat16],
];

describe("addLayerNorm", () => {
  for (const [dt, rDt, yDt] of ADD_DTYPES) {
    test(`${dtypeName(dt)} + ${dtypeName(rDt)} into ${dtypeName(yDt)}: the sum as js rounds it, the norm layerNorm's of it bit for bit, gradients within rounding`, () => {
      const rng = Rng.seeded(71, dt * 16 + rDt * 4 + yDt);
      for (const [rows, cols] of [
        [1, 4],
        [5, 64],
        [60, 700],
      ] as [number, number][]) {
        const what = `[${rows}, ${cols}]`;
        const n = rows * cols;
        const [x, r] = [random(rng, dt, n, 2), random(rng, rDt, n)];
        const weight = random(rng, DTYPE.float32, cols, 2) as Float32Array;
        const bias = random(rng, DTYPE.float32, cols) as Float32Array;
        const [sum, y, mean, rstd] = [zerosLike(dt, n), zerosLike(yDt, n), new Float32Array(2 * rows), new Float32Array(rows)];
        native.addLayerNorm(dt, x, rDt, r, weight, bias, sum, y, mean, rstd, rows, cols, 1e-5, yDt);
        const jsSum = zerosLike(dt, n);
        addLayerNorm(dt, x, rDt, r, weight, bias, jsSum, zerosLike(yDt, n), new Float32Array(2 * rows), new Float32Array(rows), rows, cols, 1e-5, yDt);
        // One float32 add, rounded once into dt (twice for bf16, as encode does): the same bits.
        assertSameBits(sum, jsSum, `${what}: sum`);
        const [ly, lmean, lrstd] = [zerosLike(yDt, n), new Float32Array(2 * rows), new Float32Array(rows)];
        native.layerNorm(dt, sum, weight, bias, ly, lmean, lrstd, rows, cols, 1e-5, yDt);
        assertSameBits(y, ly, `${what}: y`);
        assertSameBits(mean, lmean, `${what}: mean`);
        assertSameBits(rstd, lrstd, `${what}: rstd`);

        const [gY, gSum] = [random(rng, yDt, n), random(rng, dt, n)];
        const grads = () => ({ dx: zerosLike(dt, n), dr: zerosLike(rDt, n), dw: new Float32Array(cols).fill(9), db: new Float32Array(cols).fill(9) });
        const [nat, js] = [grads(), grads()];
        native.addLayerNormBackward(dt, gY, yDt, gSum, sum, weight, mean, rstd, nat.dx, rDt, nat.dr, nat.dw, nat.db, rows, cols);
        addLayerNormBackward(dt, gY, yDt, gSum, sum, weight, mean, rstd, js.dx, rDt, js.dr, js.dw, js.db, rows, cols);
        // dweight and dbias come from layerNorm's own loop: the same bits.
        const [lw, lb] = [new Float32Array(cols), new Float32Array(cols)];
        native.layerNormBackward(dt, gY, sum, weight, mean, rstd, null, lw, lb, rows, cols, yDt);
        assertSameBits(nat.dw, lw, `${what}: dweight`);
        assertSameBits(nat.db, lb, `${what}: dbias`);
        // dx = gSum + rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), the two row sums in float32 over cols.
        const [g, s, gs] = [decode(yDt, gY), decode(dt, sum), decode(dt, gSum)];
        const scale = (i: number): number => {
          const row = Math.floor(i / cols);
          let sg = 0;
          for (let j = 0; j < cols; j++) sg += Math.abs(g[row * cols + j]! * weight[j]!) * (1 + Math.abs((s[row * cols + j]! - mean[2 * row]!) * rstd[row]!));
          return (
            rstd[row]! * (Math.abs(g[i]! * weight[i % cols]!) + (2 * sg) / cols) * (1 + Math.abs((s[i]! - mean[2 * row]!) * rstd[row]!)) + Math.abs(gs[i]!)
          );
        };
        assertNearNative(dt, valuesOf(dt, js.dx), valuesOf(dt, nat.dx), cols + 8, scale, `${what}: dx`);
        assertNearNative(rDt, valuesOf(rDt, js.dr), valuesOf(rDt, nat.dr), cols + 8, scale, `${what}: dr`);
      }
    });
  }

  test("a missing sum gradient adds nothing, and dr alone may be asked for", () => {
    const rng = Rng.seeded(73);
    const [rows, cols] = [3, 16];
    const n = rows * cols;
    const x = random(rng, DTYPE.float32, n) as Float32Array;
    const [sum, y, mean, rstd] = [new Float32Array(n), new Float32Array(n), new Float32Array(2 * rows), new Float32Array(rows)];
    native.addLayerNorm(0, x, 0, x, null, null, sum, y, mean, rstd, rows, cols, 1e-5, 0);
    const gY = random(rng, DTYPE.float32, n) as Float32Array;
    const [dr, dx] = [new Float32Array(n), new Float32Array(n)];
    native.addLayerNormBackward(0, gY, 0, null, sum, null, mean, rstd, null, 0, dr, null, null, rows, cols);
    native.layerNormBackward(0, gY, sum, null, mean, rstd, dx, null, null, rows, cols, 0);
    assertSameBits(dr, dx, "dr without a sum gradient");
  });

  test("arguments are checked before anything is written", () => {
    const y = new Float32Array(6).fill(7);
    for (const kernel of [native.addLayerNorm, addLayerNorm]) {
      assert.throws(
        () =>
          kernel(0, new Float32Array(6), 1, new Float32Array(6), null, null, new Float32Array(6), y, new Float32Array(4), new Float32Array(2), 2, 3, 1e-5, 0),
        /^TypeError: addLayerNorm: 'r' is a Float32Array, but dtype bfloat16 is stored in a Uint16Array/,
      );
    }
    assert.deepEqual([...y], [7, 7, 7, 7, 7, 7]);
  });
});
