import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { UNARY_BACKWARD_OPS, UNARY_OPS } from "../../../src/backends/js/codes.js";
import { unary, unaryBackward } from "../../../src/backends/js/unary.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, EDGE_VALUES, FLOAT_DTYPES, makeArray, uniformValues, valuesOf, zerosLike } from "./kernel_check.js";

const native = loadNative();

/** Float32 ulps the native result may carry per unit of each op's scale (see assertNearNative). */
const ULPS = 8;

const gate = (x: number): number => x * x; // how far an error in u = c·x³ carries through GELU's gate

/**
 * Each op's inputs and error scale: the magnitude of the terms whose float32 rounding reaches
 * the result (for GELU the gate's argument grows as x³; native's erf is within 7 ulps).
 */
const FORWARD: Record<
  (typeof UNARY_OPS)[number],
  { low: number; high: number; alpha?: number; scale: (x: number, y: number) => number; finiteOnly?: boolean }
> = {
  neg: { low: -10, high: 10, scale: (_x, y) => Math.abs(y) },
  exp: { low: -20, high: 20, scale: (_x, y) => Math.abs(y) },
  log: { low: 0, high: 10, scale: (_x, y) => Math.abs(y) },
  sqrt: { low: 0, high: 100, scale: (_x, y) => Math.abs(y) },
  rsqrt: { low: 0, high: 100, scale: (_x, y) => Math.abs(y) },
  tanh: { low: -5, high: 5, scale: (_x, y) => Math.abs(y) },
  sigmoid: { low: -20, high: 20, scale: (_x, y) => Math.abs(y) },
  relu: { low: -3, high: 3, scale: () => 0 },
  // native's exp clamps its argument, so its GELU of −∞ is −∞ where the limit is 0: infinities are left out.
  gelu_tanh: { low: -8, high: 8, scale: (x) => Math.abs(x) * (1 + gate(x)), finiteOnly: true },
  gelu_erf: { low: -8, high: 8, scale: (x) => 2 * Math.abs(x), finiteOnly: true },
  abs: { low: -3, high: 3, scale: () => 0 },
  sign: { low: -3, high: 3, scale: () => 0 },
  square: { low: -100, high: 100, scale: (_x, y) => Math.abs(y) },
  reciprocal: { low: -10, high: 10, scale: (_x, y) => Math.abs(y) },
  scale: { low: -10, high: 10, alpha: -1.7, scale: (_x, y) => Math.abs(y) },
  shift: { low: -10, high: 10, alpha: 0.3, scale: (x) => Math.abs(x) + 0.3 },
  pow: { low: 0, high: 10, alpha: 2.5, scale: (_x, y) => Math.abs(y) },
  clamp_min: { low: -3, high: 3, alpha: 0.25, scale: () => 0 },
  fill: { low: -3, high: 3, alpha: 0.1, scale: () => 0 },
};

const BACKWARD: Record<
  (typeof UNARY_BACKWARD_OPS)[number],
  { forward: (typeof UNARY_OPS)[number] | null; low: number; high: number; alpha?: number; scale: (g: number, s: number) => number }
> = {
  relu: { forward: null, low: -3, high: 3, scale: () => 0 },
  gelu_tanh: { forward: null, low: -8, high: 8, scale: (g, x) => Math.abs(g) * (1 + Math.abs(x)) * (1 + gate(x)) },
  gelu_erf: { forward: null, low: -8, high: 8, scale: (g, x) => 2 * Math.abs(g) * (1 + Math.abs(x)) },
  tanh: { forward: "tanh", low: -4, high: 4, scale: (g) => 2 * Math.abs(g) },
  sigmoid: { forward: "sigmoid", low: -8, high: 8, scale: (g, y) => 2 * Math.abs(g * y) },
  exp: { forward: "exp", low: -5, high: 5, scale: (g, y) => Math.abs(g * y) },
  log: { forward: null, low: 0.01, high: 10, scale: (g, x) => Math.abs(g / x) },
  sqrt: { forward: "sqrt", low: 0.01, high: 10, scale: (g, y) => Math.abs(g / y) },
  rsqrt: { forward: "rsqrt", low: 0.1, high: 10, scale: (g, y) => Math.abs(g * y * y * y) },
  abs: { forward: null, low: -3, high: 3, scale: () => 0 },
  square: { forward: null, low: -10, high: 10, scale: (g, x) => Math.abs(2 * g * x) },
  reciprocal: { forward: "reciprocal", low: 0.1, high: 10, scale: (g, y) => Math.abs(g * y * y) },
  pow: { forward: null, low: 0.01, high: 5, alpha: 2.5, scale: (g, x) => Math.abs(g * 2.5 * x ** 1.5) },
  clamp_min: { forward: null, low: -3, high: 3, alpha: 0.25, scale: () => 0 },
};

const N = 997; // odd, so no kernel's vector width divides it

describe("unary", () => {
  for (const op of UNARY_OPS) {
    test(`${op} equals native within float32 rounding in every float dtype, edge values included`, () => {
      const spec = FORWARD[op];
      const code = native.unaryCodes().forward[op]!;
      const edges = spec.finiteOnly ? EDGE_VALUES.filter(Number.isFinite) : EDGE_VALUES;
      for (const [name, dtype] of FLOAT_DTYPES) {
        const x = makeArray(dtype, [...uniformValues(code + 1, N, spec.low, spec.high), ...edges]);
        const a = zerosLike(dtype, x.length),
          b = zerosLike(dtype, x.length);
        unary(code, dtype, x, a, spec.alpha ?? 0);
        native.unary(code, dtype, x, b, spec.alpha ?? 0);
        const xs = valuesOf(dtype, x),
          js = valuesOf(dtype, a);
        assertNearNative(dtype, js, valuesOf(dtype, b), ULPS, (i) => spec.scale(xs[i]!, js[i]!), `${op} ${name}`);
      }
    });
  }

  test("the output may be the input (an in-place op)", () => {
    const x = Float32Array.of(-1, 2, -3);
    unary(native.unaryCodes().forward.relu!, 0, x, x, 0);
    assert.deepEqual(Array.from(x), [0, 2, 0]);
  });

  test("alpha is read as float32, as native reads it", () => {
    // 1e30^0.1 is 1000, but to float32(0.1) = 0.1 + 1.5e-9 it is 1000·(1 + 1e-7): 1.7 float32 ulps more.
    const x = Float32Array.of(1e30),
      js = new Float32Array(1),
      nat = new Float32Array(1);
    unary(native.unaryCodes().forward.pow!, 0, x, js, 0.1);
    native.unary(native.unaryCodes().forward.pow!, 0, x, nat, 0.1);
    assert.equal(js[0], nat[0]);
    assert.notEqual(js[0], 1000);
  });
});

describe("unaryBackward", () => {
  for (const op of UNARY_BACKWARD_OPS) {
    test(`${op} equals native within float32 rounding in every float dtype`, () => {
      const spec = BACKWARD[op];
      const code = native.unaryCodes().backward[op]!;
      for (const [name, dtype] of FLOAT_DTYPES) {
        const input = makeArray(dtype, uniformValues(100 + code, N, spec.low, spec.high));
        let saved = input;
        if (spec.forward !== null) {
          saved = zerosLike(dtype, N);
          native.unary(native.unaryCodes().forward[spec.forward]!, dtype, input, saved, 0);
        }
        const grad = makeArray(dtype, uniformValues(200 + code, N, -2, 2));
        const a = zerosLike(dtype, N),
          b = zerosLike(dtype, N);
        unaryBackward(code, dtype, grad, saved, a, spec.alpha ?? 0);
        native.unaryBackward(code, dtype, grad, saved, b, spec.alpha ?? 0);
        const g = valuesOf(dtype, grad),
          s = valuesOf(dtype, saved);
        assertNearNative(dtype, valuesOf(dtype, a), valuesOf(dtype, b), ULPS, (i) => spec.scale(g[i]!, s[i]!), `${op} backward ${name}`);
      }
    });
  }

  test("bad codes, dtypes and lengths throw errors that start with the kernel's name", () => {
    assert.throws(() => unary(99, 0, new Float32Array(1), new Float32Array(1), 0), /^Error: unary: unknown unary op code 99$/);
    assert.throws(() => unary(0, 3, new Int32Array(1), new Int32Array(1), 0), /^Error: unary: 'dtype' must be a floating dtype, got int32$/);
    assert.throws(() => unary(0, 0, new Float32Array(2), new Float32Array(1), 0), /^Error: unary: 'out' holds 1 elements, expected 2$/);
    assert.throws(
      () => unaryBackward(0, 0, new Float32Array(2), new Float32Array(1), new Float32Array(2), 0),
      /^Error: unaryBackward: 'saved' holds 1 elements, expected 2$/,
    );
  });
});
