import assert from "node:assert/strict";
import { test } from "node:test";

import { onebitPack, onebitUnpack } from "../../../src/backends/js/onebit.js";
import { loadNative } from "../../../src/backends/native/addon.js";

const native = loadNative();

/** Gradient-like values with exact zeros, ties of sign and a residual carried from a step before. */
function inputs(n: number, seed: number): { values: Float32Array; residual: Float32Array } {
  let s = seed;
  const next = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 2;
  const values = Float32Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 0 : next() * 1e-3));
  const residual = Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? -values[i]! : next() * 1e-4));
  return { values, residual };
}

for (const n of [1, 31, 32, 70, 100_003]) {
  test(`onebitPack and onebitUnpack: native equals the js loops bit for bit (n = ${n})`, () => {
    const packs = [native, { onebitPack, onebitUnpack }].map((k) => {
      const ranks = [0, 1, 2].map((r) => {
        const { values, residual } = inputs(n, 7 + r);
        const signs = new Int32Array(Math.ceil(n / 32));
        const scale = k.onebitPack(values, residual, signs);
        return { scale, residual, signs };
      });
      const all = new Int32Array(ranks.flatMap((r) => Array.from(r.signs)));
      const out = new Float32Array(n).fill(9);
      k.onebitUnpack(
        out,
        all,
        Float64Array.from(ranks, (r) => Math.fround(r.scale) / 3),
      );
      return { ranks, out };
    });
    const [a, b] = packs as [(typeof packs)[0], (typeof packs)[0]];
    for (let r = 0; r < 3; r++) {
      assert.equal(a.ranks[r]!.scale, b.ranks[r]!.scale, `rank ${r}'s scale`);
      assert.deepEqual(a.ranks[r]!.signs, b.ranks[r]!.signs, `rank ${r}'s signs`);
      assert.deepEqual(a.ranks[r]!.residual, b.ranks[r]!.residual, `rank ${r}'s residual`);
    }
    assert.deepEqual(a.out, b.out);
  });
}

test("onebitPack: a zero sum counts as positive and the scale is the root mean square; unpack sums each rank's ±scale", () => {
  for (const k of [native, { onebitPack, onebitUnpack }]) {
    const residual = Float32Array.of(0, 1, 0),
      signs = new Int32Array(1);
    const scale = k.onebitPack(Float32Array.of(0, -3, 2), residual, signs);
    // x = [0, -2, 2]: rms √(8/3); bits 0 and 2 set.
    assert.equal(scale, Math.fround(Math.sqrt(8 / 3)));
    assert.equal(signs[0], 0b101);
    assert.deepEqual(residual, Float32Array.of(-scale, Math.fround(-2 + scale), Math.fround(2 - scale)));
    const out = new Float32Array(3);
    k.onebitUnpack(out, Int32Array.of(0b101, 0b011), Float64Array.of(0.5, 0.25));
    assert.deepEqual(out, Float32Array.of(0.75, -0.25, 0.25));
    assert.throws(() => k.onebitPack(Float32Array.of(1, 2), new Float32Array(1), new Int32Array(1)), /onebitPack/);
    assert.throws(
      () => k.onebitUnpack(new Float32Array(40), new Int32Array(3), Float64Array.of(1, 1)),
      /onebitUnpack: signs holds 3 words, not a multiple of 2/,
    );
  }
});
