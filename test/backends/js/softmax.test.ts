import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { crossEntropy } from "../../../src/backends/js/cross_entropy.js";
import { DTYPE } from "../../../src/backends/js/dtype.js";
import { softmax, softmaxBackward } from "../../../src/backends/js/softmax.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, FLOAT_DTYPES, makeArray, uniformValues, valuesOf, zerosLike } from "./kernel_check.js";

const native = loadNative();

/** [outer, r, inner]: the last axis, a middle one, a long row, a single element per row. */
const VIEWS = [
  [9, 37, 1],
  [3, 7, 19],
  [2, 3000, 1],
  [4, 1, 5],
] as const;

/**
 * Native's exp is within 1 ulp and its sums are float64, so a softmax output is off by a few
 * float32 roundings of itself; a log-softmax output by a few of its terms x − max and log Σ.
 */
const ULPS = 8;

describe("softmax", () => {
  for (const log of [false, true]) {
    test(`${log ? "log-softmax" : "softmax"} forward and backward equal native over every view and float dtype`, () => {
      for (const [outer, r, inner] of VIEWS) {
        for (const [name, dtype] of FLOAT_DTYPES) {
          const n = outer * r * inner,
            what = `[${outer}, ${r}, ${inner}] ${name}`;
          const x = makeArray(dtype, uniformValues(r, n, -8, 8));
          const js = zerosLike(dtype, n),
            nat = zerosLike(dtype, n);
          softmax(dtype, x, js, outer, r, inner, log);
          native.softmax(dtype, x, nat, outer, r, inner, log);
          const y = valuesOf(dtype, js);
          // Native rounds x − max (up to 16 here) before exp, which carries into e^(x − max) as
          // 16 roundings of it; a log-softmax output is a few roundings of terms up to 16.
          assertNearNative(dtype, y, valuesOf(dtype, nat), ULPS, (i) => (log ? Math.abs(y[i]!) + 16 : 16 * Math.abs(y[i]!)), `forward ${what}`);

          // Backward from native's saved output, so both start from the same y.
          const g = makeArray(dtype, uniformValues(r + 1, n, -1, 1)),
            gs = valuesOf(dtype, g);
          const dxJs = zerosLike(dtype, n),
            dxNat = zerosLike(dtype, n);
          softmaxBackward(dtype, g, nat, dxJs, outer, r, inner, log);
          native.softmaxBackward(dtype, g, nat, dxNat, outer, r, inner, log);
          const ys = valuesOf(dtype, nat);
          // Each dx is y·(g − Σ g·y) or g − e^y·Σ g: a few roundings of |g| + Σ|g| times y or e^y.
          const lineSum = (k: number): number => {
            const o = Math.floor(k / (r * inner)),
              j = k % inner;
            let s = 0;
            for (let i = 0; i < r; i++) s += Math.abs(gs[(o * r + i) * inner + j]!);
            return s;
          };
          assertNearNative(
            dtype,
            valuesOf(dtype, dxJs),
            valuesOf(dtype, dxNat),
            ULPS,
            (k) => (log ? Math.abs(gs[k]!) + Math.exp(ys[k]!) * lineSum(k) : Math.abs(ys[k]!) * (Math.abs(gs[k]!) + lineSum(k))),
            `backward ${what}`,
          );
        }
      }
    });
  }

  test("a row with a huge logit does not overflow, and -inf logits get probability 0", () => {
    const y = new Float32Array(3);
    softmax(DTYPE.float32, Float32Array.of(1000, 0, -Infinity), y, 1, 3, 1, false);
    assert.deepEqual(Array.from(y), [1, 0, 0]);
  });

  test("mismatched extents throw errors that start with the kernel's name", () => {
    assert.throws(() => softmax(0, new Float32Array(6), new Float32Array(6), 2, 2, 2, false), /^Error: softmax: 'x' holds 6 elements, expected 8$/);
    assert.throws(
      () => softmaxBackward(0, new Float32Array(4), new Float32Array(4), new Float32Array(4), 2, -2, 1, true),
      /^Error: softmaxBackward: extents \[2, -2, 1\] must be non-negative with a representable product$/,
    );
  });
});

describe("crossEntropy", () => {
  const N = 37,
    C = 23,
    IGNORE = -100;
  const targets = Int32Array.from(uniformValues(40, N, 0, C).map(Math.floor));
  targets[5] = IGNORE;
  targets[17] = IGNORE;

  for (const smoothing of [0, 0.1, 1]) {
    test(`losses and gradients equal native in every float dtype, ignored rows zero: smoothing ${smoothing}`, () => {
      for (const [name, dtype] of FLOAT_DTYPES) {
        const logits = makeArray(dtype, uniformValues(41, N * C, -10, 10));
        const lossJs = new Float32Array(N),
          lossNat = new Float32Array(N);
        const gJs = zerosLike(dtype, N * C).fill(7),
          gNat = zerosLike(dtype, N * C);
        crossEntropy(dtype, logits, targets, lossJs, gJs, N, C, IGNORE, smoothing);
        native.crossEntropy(dtype, logits, targets, lossNat, gNat, N, C, IGNORE, smoothing);
        // A loss is (max − x_t) + log Σ: a few float32 roundings of logits up to 20 apart.
        assertNearNative(DTYPE.float32, Array.from(lossJs), Array.from(lossNat), ULPS, () => 20, `loss ${name}`);
        assertNearNative(dtype, valuesOf(dtype, gJs), valuesOf(dtype, gNat), ULPS, () => 1, `grad ${name}`);
        assert.equal(lossJs[5], 0);
        assert.ok(
          valuesOf(dtype, gJs)
            .slice(17 * C, 18 * C)
            .every((v) => Object.is(v, 0)),
          "an ignored row's gradient is +0",
        );

        const lossOnly = new Float32Array(N);
        crossEntropy(dtype, logits, targets, lossOnly, null, N, C, IGNORE, smoothing);
        assert.deepEqual(lossOnly, lossJs, "the loss does not depend on whether the gradient is asked for");
      }
    });
  }

  test("a confident row's gradient at the target keeps its tiny 1 − p", () => {
    const losses = new Float32Array(1),
      grad = new Float32Array(2);
    crossEntropy(DTYPE.float32, Float32Array.of(30, 0), Int32Array.of(0), losses, grad, 1, 2, -100, 0);
    // 1 − p = e^-30/(1 + e^-30) ≈ 9.36e-14: p − 1 in float32 would be 0, and (s − e_t)/s in
    // float64 keeps only 3 digits of it.
    const exact = Math.exp(-30) / (1 + Math.exp(-30));
    assert.ok(Math.abs(grad[0]! + exact) <= 2 ** -24 * exact, `got ${grad[0]}, expected ${-exact}`);
  });

  test("a target outside [0, c) throws before anything is written", () => {
    const losses = Float32Array.of(9);
    assert.throws(
      () => crossEntropy(0, new Float32Array(3), Int32Array.of(3), losses, null, 1, 3, -100, 0),
      /^Error: crossEntropy: target 3 of row 0 is outside \[0, 3\) and is not ignoreIndex -100$/,
    );
    assert.equal(losses[0], 9);
    assert.throws(
      () => crossEntropy(0, new Float32Array(3), Int32Array.of(0), losses, null, 1, 3, -100, 2),
      /^Error: crossEntropy: label smoothing must be in \[0, 1\], got 2$/,
    );
  });
});
