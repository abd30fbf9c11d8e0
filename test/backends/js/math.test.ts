import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { cPow, fmaf } from "../../../src/backends/js/c_math.js";
import { erfc } from "../../../src/backends/js/erf.js";

describe("erfc", () => {
  test("matches CPython's math.erfc (glibc) to 1e-13 relative across both branches and tails", () => {
    const known: [number, number][] = [
      [-10, 2.0],
      [-5, 1.9999999999984626],
      [-3.5, 1.9999992569016276],
      [-3, 1.9999779095030015],
      [-1, 1.842700792949715],
      [-0.3, 1.3286267594591274],
      [-1.5, 1.9661051464753108],
      [1.5, 0.033894853524689274],
      [0, 1.0],
      [1e-8, 0.9999999887162083],
      [0.5, 0.4795001221869535],
      [2, 0.004677734981047265],
      [2.9, 4.109787809945886e-5],
      [3.1, 1.1648657367199589e-5],
      [4, 1.541725790028002e-8],
      [6, 2.1519736712498916e-17],
    ];
    for (const [x, expected] of known) assert.ok(Math.abs(erfc(x) - expected) <= 1e-13 * expected, `erfc(${x}) = ${erfc(x)}, expected ${expected}`);
    assert.ok(Number.isNaN(erfc(NaN)));
    assert.equal(erfc(Infinity), 0);
    assert.equal(erfc(-Infinity), 2);
  });
});

describe("C math", () => {
  test("cPow gives C's pow special cases", () => {
    assert.equal(cPow(1, NaN), 1);
    assert.equal(cPow(NaN, 0), 1);
    assert.equal(cPow(-1, Infinity), 1);
    assert.equal(cPow(-1, -Infinity), 1);
    assert.ok(Number.isNaN(cPow(-2, 0.5)));
    assert.equal(cPow(2, 10), 1024);
  });

  test("fmaf rounds a·b + c once, settling a float64 sum that lands on a float32 midpoint by the sum's error", () => {
    // (1 + 2^-12)² = 1 + 2^-11 + 2^-24 lies halfway between two float32 values; ±2^-80 decides.
    const a = 1 + 2 ** -12;
    assert.equal(fmaf(a, a, 2 ** -80), 1 + 2 ** -11 + 2 ** -23);
    assert.equal(fmaf(a, a, -(2 ** -80)), 1 + 2 ** -11);
    assert.equal(fmaf(a, a, 0), 1 + 2 ** -11, "an exact midpoint rounds to even");
    assert.equal(fmaf(1 + 2 ** -23, 1 - 2 ** -23, -1), -(2 ** -46));
  });
});
