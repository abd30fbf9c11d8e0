import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { decode, DTYPE, dtypeName, type Elements } from "../../../src/backends/js/dtype.js";
import { layerNorm, layerNormBackward } from "../../../src/backends/js/layer_norm.js";
import { Rng } from "../../../src/data/random.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, makeArray, UNIT_ROUNDOFF, valuesOf, zerosLike } from "./kernel_check.js";
import { random } from "./oracle_check.js";

const native = loadNative();

const U = UNIT_ROUNDOFF[DTYPE.float32]!;

const SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [5, 64],
  [4, 257],
];
const AFFINE = [
  { weight: true, bias: true },
  { weight: true, bias: false },
  { weight: false, bias: true },
  { weight: false, bias: false },
];
// [x's dtype, y's dtype]: every float dtype, and float32 x normalised into a bfloat16 y (autocast).
const DTYPES: [number, number][] = [
  [DTYPE.float32, DTYPE.float32],
  [DTYPE.bfloat16, DTYPE.bfloat16],
  [DTYPE.float16, DTYPE.float16],
  [DTYPE.float32, DTYPE.bfloat16],
];

// Rows of x: centred ones, and ones whose mean is large against their spread (the mean's
// float32 rounding would eat x − mean's leading digits without the hi + lo pair).
function inputs(rng: Rng, dt: number, rows: number, cols: number, offset: number): Elements {
  return makeArray(
    dt,
    Array.from({ length: rows * cols }, () => 2 * rng.nextFloat() - 1 + offset),
  );
}

describe("js layerNorm against native", () => {
  for (const [dt, yDt] of DTYPES) {
    test(`${dtypeName(dt)} x into ${dtypeName(yDt)} y: mean pair, rstd, y and every gradient within their float32 bounds`, () => {
      const rng = Rng.seeded(41, dt * 4 + yDt);
      for (const [rows, cols] of SHAPES) {
        for (const affine of AFFINE) {
          for (const offset of [0, 1000]) {
            const what = `[${rows}, ${cols}] ${JSON.stringify(affine)} offset ${offset}`;
            const x = inputs(rng, dt, rows, cols, offset),
              n = rows * cols;
            const weight = affine.weight ? (random(rng, DTYPE.float32, cols, 2) as Float32Array) : null;
            const bias = affine.bias ? (random(rng, DTYPE.float32, cols) as Float32Array) : null;
            const mean = [new Float32Array(2 * rows), new Float32Array(2 * rows)],
              rstd = [new Float32Array(rows), new Float32Array(rows)];
            const y = [zerosLike(yDt, n), zerosLike(yDt, n)];
            native.layerNorm(dt, x, weight, bias, y[0]!, mean[0]!, rstd[0]!, rows, cols, 1e-5, yDt);
            layerNorm(dt, x, weight, bias, y[1]!, mean[1]!, rstd[1]!, rows, cols, 1e-5, yDt);
            const xv = decode(dt, x);
            for (let r = 0; r < rows; r++) {
              // The pair carries the mean to about 2^-48 of its size; rstd rounds once to float32.
              const m0 = mean[0]![2 * r]! + mean[0]![2 * r + 1]!,
                m1 = mean[1]![2 * r]! + mean[1]![2 * r + 1]!;
              assert.ok(Math.abs(m1 - m0) <= 2 ** -44 * (Math.abs(m0) + 1), `${what}: row ${r} mean ${m1}, expected ${m0}`);
              assert.ok(Math.abs(rstd[1]![r]! - rstd[0]![r]!) <= 2 * U * rstd[0]![r]!, `${what}: row ${r} rstd ${rstd[1]![r]}, expected ${rstd[0]![r]}`);
            }
            const xhat = (i: number): number => {
              const r = Math.floor(i / cols);
              return (xv[i]! - (mean[0]![2 * r]! + mean[0]![2 * r + 1]!)) * rstd[0]![r]!;
            };
            const w = (j: number): number => (weight ? weight[j]! : 1);
            // Native's y: ((x − hi) − lo)·rstd·weight + bias in float32, a handful of roundings.
            assertNearNative(
              yDt,
              valuesOf(yDt, y[1]!),
              valuesOf(yDt, y[0]!),
              8,
              (i) => Math.abs(xhat(i) * w(i % cols)) + Math.abs(bias ? bias[i % cols]! : 0),
              `${what}: y`,
            );

            const grad = random(rng, yDt, n);
            const dx = [random(rng, dt, n), random(rng, dt, n)];
            const dweight = [new Float32Array(cols).fill(9), new Float32Array(cols).fill(9)],
              dbias = [new Float32Array(cols).fill(9), new Float32Array(cols).fill(9)];
            native.layerNormBackward(dt, grad, x, weight, mean[0]!, rstd[0]!, dx[0]!, dweight[0]!, dbias[0]!, rows, cols, yDt);
            layerNormBackward(dt, grad, x, weight, mean[0]!, rstd[0]!, dx[1]!, dweight[1]!, dbias[1]!, rows, cols, yDt);
            // dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)): native's two row sums run in float32 over cols.
            const g = decode(yDt, grad);
            const rowMeans = Array.from({ length: rows }, (_, r) => {
              let sg = 0,
                sgx = 0;
              for (let j = 0; j < cols; j++) {
                sg += Math.abs(g[r * cols + j]! * w(j));
                sgx += Math.abs(g[r * cols + j]! * w(j) * xhat(r * cols + j));
              }
              return { g: sg / cols, gx: sgx / cols };
            });
            assertNearNative(
              dt,
              valuesOf(dt, dx[1]!),
              valuesOf(dt, dx[0]!),
              cols + 8,
              (i) => {
                const r = Math.floor(i / cols),
                  rm = rowMeans[r]!;
                return rstd[0]![r]! * (Math.abs(g[i]! * w(i % cols)) + rm.g + Math.abs(xhat(i)) * rm.gx);
              },
              `${what}: dx`,
            );
            // dweight and dbias sum over rows.
            const columnSum =
              (f: (i: number) => number) =>
              (j: number): number => {
                let s = 0;
                for (let r = 0; r < rows; r++) s += Math.abs(f(r * cols + j));
                return s;
              };
            assertNearNative(
              DTYPE.float32,
              valuesOf(DTYPE.float32, dweight[1]!),
              valuesOf(DTYPE.float32, dweight[0]!),
              rows + 8,
              (j) => columnSum((i) => g[i]! * xhat(i))(j),
              `${what}: dweight`,
            );
            assertNearNative(
              DTYPE.float32,
              valuesOf(DTYPE.float32, dbias[1]!),
              valuesOf(DTYPE.float32, dbias[0]!),
              rows + 2,
              (j) => columnSum((i) => g[i]!)(j),
              `${what}: dbias`,
            );
          }
        }
      }
    });
  }

  test("writes only the gradients asked for", () => {
    const x = Float32Array.of(1, 2, 4, 8),
      mean = new Float32Array(4),
      rstd = new Float32Array(2);
    layerNorm(0, x, null, null, new Float32Array(4), mean, rstd, 2, 2, 0, 0);
    const dweight = new Float32Array(2).fill(9);
    layerNormBackward(0, Float32Array.of(1, 1, 1, 1), x, null, mean, rstd, null, dweight, null, 2, 2, 0);
    assert.deepEqual([...dweight], [-2, 2]);
  });

  test("degenerate rows give native's values: one column with eps 0 (1/0), no columns (0/0)", () => {
    for (const [rows, cols] of [
      [3, 1],
      [2, 0],
    ] as const) {
      const run = (kernel: typeof layerNorm) => {
        const y = new Float32Array(rows * cols),
          mean = new Float32Array(2 * rows),
          rstd = new Float32Array(rows);
        kernel(
          0,
          Float32Array.from({ length: rows * cols }, (_, i) => i),
          null,
          null,
          y,
          mean,
          rstd,
          rows,
          cols,
          0,
          0,
        );
        return [[...y], [...mean], [...rstd]];
      };
      assert.deepEqual(run(layerNorm), run(native.layerNorm), `[${rows}, ${cols}]`);
    }
  });

  test("checks shapes, eps and lengths with native's messages", () => {
    const x = new Float32Array(6),
      y = new Float32Array(6),
      mean = new Float32Array(4),
      rstd = new Float32Array(2);
    for (const kernel of [native.layerNorm, layerNorm]) {
      assert.throws(() => kernel(0, x, null, null, y, mean, rstd, 2, 3, -1, 0), /^Error: layerNorm: eps must be a finite number >= 0, got -1$/);
      assert.throws(() => kernel(0, x, null, null, y, mean, rstd, 2, 3, NaN, 0), /^Error: layerNorm: eps must be a finite number >= 0, got nan$/);
      assert.throws(
        () => kernel(0, x, null, null, y, mean, rstd, -2, 3, 0, 0),
        /^Error: layerNorm: extents \[-2, 3\] must be non-negative with a representable product$/,
      );
      assert.throws(() => kernel(0, x, new Float32Array(2), null, y, mean, rstd, 2, 3, 0, 0), /^Error: layerNorm: 'weight' holds 2 elements, expected 3$/);
      assert.throws(() => kernel(0, x, null, null, y, new Float32Array(2), rstd, 2, 3, 0, 0), /^Error: layerNorm: 'mean' holds 2 elements, expected 4$/);
      assert.throws(
        () => kernel(0, x, null, null, new Uint16Array(6), mean, rstd, 2, 3, 0, 0),
        /^TypeError: layerNorm: 'y' is a Uint16Array, but dtype float32 is stored in a Float32Array$/,
      );
    }
    for (const kernel of [native.layerNormBackward, layerNormBackward]) {
      assert.throws(() => kernel(0, new Uint16Array(6), x, null, mean, rstd, x, null, null, 2, 3, 0), /^TypeError: layerNormBackward: 'grad' is a Uint16Array/);
      assert.throws(
        () => kernel(0, x, x, null, mean, rstd, null, new Float32Array(4), null, 2, 3, 0),
        /^Error: layerNormBackward: 'dweight' holds 4 elements, expected 3$/,
      );
    }
  });
});
