import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { clampInPlace, sumOfSquares } from "../../../src/backends/js/clipping.js";
import { DTYPE } from "../../../src/backends/js/dtype.js";
import { unscaleAndCheck } from "../../../src/backends/js/grad_scaler.js";
import { adamStep, sgdStep } from "../../../src/backends/js/optimizer_steps.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, assertSameBits, EDGE_VALUES, FLOAT_DTYPES, makeArray, uniformValues, valuesOf, zerosLike } from "./kernel_check.js";

const native = loadNative();

const N = 1001;
const f32 = (seed: number, low: number, high: number): Float32Array => Float32Array.from(uniformValues(seed, N, low, high));

/**
 * Native's update is about ten float32 operations, each off by at most 2^-24 of its operands'
 * size: 16 ulps of the largest term (the parameter, or the update) bounds the difference.
 */
const ULPS = 16;

describe("adamStep", () => {
  // [lr, beta1, beta2, eps, weightDecay, step, decoupled]: Adam with L2, AdamW, a large eps, a late step.
  const CASES = [
    [1e-3, 0.9, 0.999, 1e-8, 0.01, 1, 0],
    [1e-2, 0.9, 0.99, 1e-8, 0.1, 1, 1],
    [3e-2, 0.8, 0.95, 1e-2, 0, 7, 1],
    [1e-3, 0.9, 0.999, 1e-8, 0.05, 1000, 0],
  ] as const;
  for (const hyper of CASES) {
    test(`matches native within float32 rounding, bf16 copy included: hyper ${hyper.join(", ")}`, () => {
      const start = { p: f32(1, -2, 2), g: f32(2, -1, 1), m: f32(3, -0.1, 0.1), v: f32(4, 0, 0.01) };
      const run = (kernel: typeof adamStep) => {
        const p = start.p.slice(),
          m = start.m.slice(),
          v = start.v.slice(),
          low = new Uint16Array(N);
        kernel(p, start.g, m, v, low, Float64Array.from(hyper));
        return { p, m, v, low };
      };
      const js = run(adamStep),
        nat = run(native.adamStep);
      const [, beta1, beta2] = hyper;
      assertNearNative(DTYPE.float32, Array.from(js.p), Array.from(nat.p), ULPS, (i) => Math.abs(start.p[i]!) + Math.abs(js.p[i]! - start.p[i]!), "param");
      assertNearNative(
        DTYPE.float32,
        Array.from(js.m),
        Array.from(nat.m),
        ULPS,
        (i) => Math.abs(beta1 * start.m[i]!) + Math.abs(start.g[i]!) + Math.abs(start.p[i]!),
        "expAvg",
      );
      assertNearNative(
        DTYPE.float32,
        Array.from(js.v),
        Array.from(nat.v),
        ULPS,
        (i) => beta2 * start.v[i]! + (Math.abs(start.g[i]!) + Math.abs(start.p[i]!)) ** 2,
        "expAvgSq",
      );
      // The bf16 copy is js's own parameter rounded: exact against js, within a bf16 step of native's.
      assertSameBits(js.low, makeArray(DTYPE.bfloat16, Array.from(js.p)), "bf16 copy of js's parameter");
      assertNearNative(DTYPE.bfloat16, valuesOf(DTYPE.bfloat16, js.low), valuesOf(DTYPE.bfloat16, nat.low), ULPS, (i) => Math.abs(start.p[i]!), "bf16 copy");
    });
  }

  test("step below 1 and a short state throw errors that start with the kernel's name", () => {
    const a = new Float32Array(2);
    assert.throws(() => adamStep(a, a, a, a, null, Float64Array.of(1e-3, 0.9, 0.999, 1e-8, 0, 0, 0)), /^Error: adamStep: step must be at least 1, got 0$/);
    assert.throws(
      () => adamStep(a, a, new Float32Array(1), a, null, Float64Array.of(1e-3, 0.9, 0.999, 1e-8, 0, 1, 0)),
      /^Error: adamStep: 'expAvg' holds 1 elements, expected 2$/,
    );
    assert.throws(() => adamStep(a, a, a, a, null, Float64Array.of(1e-3)), /^Error: adamStep: 'hyper' holds 1 entries, expected at least 7$/);
  });
});

describe("sgdStep", () => {
  // [lr, momentum, dampening, weightDecay, nesterov, firstStep]
  const CASES = [
    [0.1, 0, 0, 0, 0, 0],
    [0.1, 0, 0, 0.01, 0, 0],
    [0.05, 0.9, 0, 0.01, 0, 1],
    [0.05, 0.9, 0.1, 0.01, 0, 0],
    [0.05, 0.9, 0, 0, 1, 0],
  ] as const;
  for (const hyper of CASES) {
    test(`matches native within float32 rounding: hyper ${hyper.join(", ")}`, () => {
      const p0 = f32(5, -2, 2),
        g = f32(6, -1, 1),
        b0 = f32(7, -1, 1);
      const run = (kernel: typeof sgdStep) => {
        const p = p0.slice(),
          b = hyper[1] === 0 ? null : b0.slice();
        kernel(p, g, b, Float64Array.from(hyper));
        return { p, b };
      };
      const js = run(sgdStep),
        nat = run(native.sgdStep);
      const scale = (i: number): number => Math.abs(p0[i]!) + 2 * (Math.abs(g[i]!) + Math.abs(b0[i]!) + Math.abs(p0[i]!));
      assertNearNative(DTYPE.float32, Array.from(js.p), Array.from(nat.p), ULPS, scale, "param");
      if (js.b) assertNearNative(DTYPE.float32, Array.from(js.b), Array.from(nat.b!), ULPS, scale, "momentum buffer");
    });
  }

  test("momentum without a buffer throws an error that starts with the kernel's name", () => {
    const a = new Float32Array(2);
    assert.throws(() => sgdStep(a, a, null, Float64Array.of(0.1, 0.9, 0, 0, 0, 0)), /^Error: sgdStep: momentum 0.9 needs a momentum buffer$/);
  });
});

describe("clipping and unscaling", () => {
  test("sumOfSquares equals native's float64 sum in every float dtype", () => {
    for (const [name, dtype] of FLOAT_DTYPES) {
      const x = makeArray(dtype, uniformValues(8, 100_003, -3, 3));
      const js = sumOfSquares(dtype, x),
        nat = native.sumOfSquares(dtype, x);
      assert.ok(Math.abs(js - nat) <= 1e-12 * nat, `${name}: ${js} vs ${nat}`);
    }
    assert.equal(sumOfSquares(DTYPE.float32, Float32Array.of(3, 4)), 25);
  });

  test("clampInPlace gives native's bits, NaN kept, bounds read as float32", () => {
    for (const [name, dtype] of FLOAT_DTYPES) {
      const js = makeArray(dtype, [...uniformValues(9, 500, -3, 3), ...EDGE_VALUES]),
        nat = js.slice();
      clampInPlace(dtype, js, -1.1, 0.7);
      native.clampInPlace(dtype, nat, -1.1, 0.7);
      assertSameBits(js, nat, `clamp ${name}`);
    }
    assert.throws(() => clampInPlace(0, new Float32Array(1), 1, 0), /^Error: clampInPlace: low 1 exceeds high 0$/);
  });

  test("unscaleAndCheck scales every element, reports inf or NaN, and gives native's bits", () => {
    for (const [name, dtype] of FLOAT_DTYPES) {
      for (const values of [uniformValues(10, 500, -1000, 1000), [...uniformValues(11, 50, -1, 1), ...EDGE_VALUES]]) {
        const js = makeArray(dtype, values),
          nat = js.slice();
        const a = unscaleAndCheck(dtype, js, 1 / 3),
          b = native.unscaleAndCheck(dtype, nat, 1 / 3);
        assert.equal(a, b, `${name}: found a non-finite value`);
        assertSameBits(js, nat, `unscale ${name}`);
      }
    }
    assert.equal(unscaleAndCheck(DTYPE.float32, zerosLike(DTYPE.float32, 3), 2), false);
  });
});
