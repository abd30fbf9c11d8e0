import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";

import fc from "fast-check";

import { attention, attentionBackward } from "../../../src/backends/js/attention.js";
import { decode, DTYPE, dtypeName, type Elements } from "../../../src/backends/js/dtype.js";
import { Rng } from "../../../src/data/random.js";
import { loadNative } from "../../../src/backends/native/addon.js";
import { assertNearNative, valuesOf } from "./kernel_check.js";
import { random } from "./oracle_check.js";

const native = loadNative();
// /proc/cpuinfo's flag for AVX512_BF16, with which native takes bf16 attention's products as dot products.
const BF16_DOT = existsSync("/proc/cpuinfo") && /\bavx512_bf16\b/.test(readFileSync("/proc/cpuinfo", "utf8"));

interface Problem {
  b: number;
  h: number;
  t: number;
  d: number;
  causal: boolean;
  packed: boolean;
  block: number;
}

// T is no multiple of the blocks (1, 16 and 64 rows), one-row heads, a head dimension past 64,
// and q, k, v packed in one [B, T, 3·H·D] array (nanoGPT's qkv) with a merged [B, T, H·D] output.
const CASES: Problem[] = [
  { b: 1, h: 1, t: 1, d: 4, causal: false, packed: false, block: 64 },
  { b: 2, h: 3, t: 5, d: 8, causal: true, packed: false, block: 16 },
  { b: 1, h: 2, t: 17, d: 16, causal: false, packed: true, block: 16 },
  { b: 2, h: 2, t: 70, d: 8, causal: true, packed: true, block: 64 },
  { b: 1, h: 1, t: 33, d: 72, causal: true, packed: false, block: 1 },
];

/** [offset, batch, head, time] of q, k, v and out, and the arrays' sizes. */
function layout(p: Problem): { layout: Int32Array; qkv: number; out: number } {
  const { h, t, d } = p,
    c = h * d;
  if (p.packed) {
    return {
      layout: Int32Array.of(0, 3 * t * c, d, 3 * c, c, 3 * t * c, d, 3 * c, 2 * c, 3 * t * c, d, 3 * c, 0, t * c, d, c),
      qkv: p.b * t * 3 * c,
      out: p.b * t * c,
    };
  }
  const contiguous = [0, h * t * d, t * d, d];
  return { layout: Int32Array.from([...contiguous, ...contiguous, ...contiguous, ...contiguous]), qkv: p.b * h * t * d, out: p.b * h * t * d };
}

function largest(dt: number, a: Elements): number {
  return decode(dt, a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

/**
 * Forward and backward of one problem natively and in js: out and lse, then dq, dk and dv from
 * native's saved out and lse, each within the float32 error of the scores and sums.
 */
function compareAttention(p: Problem, dt: number, rng: Rng): void {
  const what = JSON.stringify(p),
    { layout: ly, qkv, out: outN } = layout(p),
    scale = 1 / Math.sqrt(p.d);
  // Packed: q, k and v are one array, as the model passes them.
  const q = random(rng, dt, qkv, 2),
    k = p.packed ? q : random(rng, dt, qkv, 2),
    v = p.packed ? q : random(rng, dt, qkv);
  const args = [p.b, p.h, p.t, p.d, ly, scale, p.causal, p.block] as const;
  const out = [random(rng, dt, outN), random(rng, dt, outN)],
    lse = [new Float32Array(p.b * p.h * p.t), new Float32Array(p.b * p.h * p.t)];
  native.attention(dt, q, k, v, out[0]!, lse[0]!, ...args);
  attention(dt, q, k, v, out[1]!, lse[1]!, ...args);
  // Each score is a float32 dot product of d terms, off by up to (d + 2)·u·S with S the
  // largest scale·Σ|q·k|; the probabilities then carry twice that (numerator and sum) plus
  // the t-term sums' t·u, and out, a convex combination of v's rows, that times max |v|.
  const s = scale * p.d * largest(dt, q) * largest(dt, k);
  // Native's bf16 dot products (a CPU with AVX512_BF16) round scale·q and the probabilities to
  // bf16 (relative 2^-9, 2^15 float32 ulps) before their products: each score moves by up to
  // 2^-9·s, each probability by twice that plus its own rounding.
  const dot = dt === DTYPE.bfloat16 && BF16_DOT ? 2 ** 15 * (2 * s + 1) * 2 : 0;
  const ulps = 2 * (p.d + 2) * s + 2 * p.t + 16 + dot;
  const vScale = largest(dt, v);
  assertNearNative(dt, valuesOf(dt, out[1]!), valuesOf(dt, out[0]!), ulps, () => vScale, `${what}: out`);
  assertNearNative(DTYPE.float32, valuesOf(DTYPE.float32, lse[1]!), valuesOf(DTYPE.float32, lse[0]!), ulps, (i) => 1 + Math.abs(lse[0]![i]!), `${what}: lse`);
  const noLse = random(rng, dt, outN);
  attention(dt, q, k, v, noLse, null, ...args);
  assert.deepEqual(noLse, out[1], `${what}: out without lse`);

  // Backward from native's saved out and lse. The gradients sum t products of terms the
  // same probabilities scale, so the same relative error applies to each gradient's size
  // (its largest entry), with a margin of 4 for the products' own roundings.
  const grad = random(rng, dt, outN);
  const grads = [0, 1].map(() => (p.packed ? [random(rng, dt, qkv)] : [random(rng, dt, qkv), random(rng, dt, qkv), random(rng, dt, qkv)]));
  const targets = (g: Elements[]): [Elements, Elements, Elements] => [g[0]!, g[1] ?? g[0]!, g[2] ?? g[0]!];
  native.attentionBackward(dt, q, k, v, out[0]!, lse[0]!, grad, ...targets(grads[0]!), ...args);
  attentionBackward(dt, q, k, v, out[0]!, lse[0]!, grad, ...targets(grads[1]!), ...args);
  grads[0]!.forEach((expected, i) => {
    const size = largest(dt, expected);
    assertNearNative(dt, valuesOf(dt, grads[1]![i]!), valuesOf(dt, expected), 4 * ulps, () => size, `${what}: ${p.packed ? "dqkv" : ["dq", "dk", "dv"][i]}`);
  });
}

// Any problem: up to 2 batches and 3 heads, up to 40 rows of up to 20 columns, any block.
const anyProblem: fc.Arbitrary<Problem> = fc.record({
  b: fc.integer({ min: 1, max: 2 }),
  h: fc.integer({ min: 1, max: 3 }),
  t: fc.integer({ min: 1, max: 40 }),
  d: fc.integer({ min: 1, max: 20 }),
  causal: fc.boolean(),
  packed: fc.boolean(),
  block: fc.integer({ min: 1, max: 256 }),
});

const DTYPES = [DTYPE.float32, DTYPE.bfloat16, DTYPE.float16];

describe("js attention against native", () => {
  for (const dt of DTYPES) {
    test(`${dtypeName(dt)}: out, lse and dq, dk, dv on every listed case`, () => {
      const rng = Rng.seeded(51, dt);
      for (const p of CASES) compareAttention(p, dt, rng);
    });
  }

  test("forward and backward on 40 arbitrary problems (seeded fast-check)", () => {
    fc.assert(
      fc.property(anyProblem, fc.constantFrom(...DTYPES), fc.nat(), (p, dt, seed) => compareAttention(p, dt, Rng.seeded(seed))),
      { seed: 53, numRuns: 40 },
    );
  });

  test("writes only the gradients asked for, into their own columns of a packed array", () => {
    const p: Problem = { b: 2, h: 2, t: 6, d: 4, causal: true, packed: true, block: 64 };
    const { layout: ly, qkv, out: outN } = layout(p),
      rng = Rng.seeded(52);
    const q = random(rng, DTYPE.float32, qkv),
      grad = random(rng, DTYPE.float32, outN);
    const out = new Float32Array(outN),
      lse = new Float32Array(p.b * p.h * p.t);
    attention(0, q, q, q, out, lse, p.b, p.h, p.t, p.d, ly, 0.5, true, 64);
    const all = new Float32Array(qkv),
      onlyDk = new Float32Array(qkv).fill(7);
    attentionBackward(0, q, q, q, out, lse, grad, all, all, all, p.b, p.h, p.t, p.d, ly, 0.5, true, 64);
    attentionBackward(0, q, q, q, out, lse, grad, null, onlyDk, null, p.b, p.h, p.t, p.d, ly, 0.5, true, 64);
    const c = p.h * p.d;
    onlyDk.forEach((value, i) => {
      const column = i % (3 * c);
      assert.equal(value, column >= c && column < 2 * c ? all[i] : 7, `element ${i}`);
    });
  });

  test("checks every argument with native's messages before touching memory", () => {
    const contiguous = Int32Array.from([0, 1, 2, 3].flatMap(() => [0, 32, 0, 8]));
    const x = new Float32Array(64),
      out = new Float32Array(64).fill(7),
      lse = new Float32Array(8).fill(7);
    type Call = Partial<{ q: Float32Array; lse: Float32Array; t: number; d: number; scale: number; block: number; layout: Int32Array }>;
    for (const kernel of [native.attention, attention]) {
      const call = (a: Call) =>
        kernel(0, a.q ?? x, x, x, out, a.lse ?? lse, 2, 1, a.t ?? 4, a.d ?? 8, a.layout ?? contiguous, a.scale ?? 1, true, a.block ?? 64);
      assert.throws(() => call({ q: new Float32Array(63) }), /^Error: attention: 'q' is used up to element 63 but holds 63 elements$/);
      assert.throws(() => call({ lse: new Float32Array(6) }), /^Error: attention: 'lse' holds 6 elements, expected 8$/);
      assert.throws(() => call({ block: 300 }), /^Error: attention: block size must be an integer in \[1, 256\], got 300$/);
      assert.throws(() => call({ scale: NaN }), /^Error: attention: scale must be a finite number, got nan$/);
      assert.throws(
        () => call({ t: 2 ** 50, d: 2 ** 20 }),
        /^Error: attention: extents \[2, 1, 1125899906842624, 1048576\] must be non-negative with a representable product$/,
      );
      assert.throws(() => call({ t: 8, d: 0 }), /^Error: attention: the head dimension d must be >= 1, got 0$/);
      assert.throws(() => call({ layout: new Int32Array(15) }), /^Error: attention: 'layout' holds 15 entries, expected at least 16$/);
      const far = contiguous.slice();
      far[3] = 2 ** 30;
      assert.throws(() => call({ t: 2 ** 40, d: 1, layout: far }), /^Error: attention: 'q' is used beyond element 2\^63 by its layout$/);
      const negative = contiguous.slice();
      negative[7] = -8;
      assert.throws(() => call({ layout: negative }), /^Error: attention: layout entry 7 must be >= 0, got -8$/);
      assert.deepEqual([...out, ...lse], new Array(72).fill(7));
    }
    for (const kernel of [native.attentionBackward, attentionBackward]) {
      assert.throws(
        () => kernel(0, x, x, x, x, lse, new Uint16Array(64), null, out, null, 2, 1, 4, 8, contiguous, 1, true, 64),
        /^TypeError: attentionBackward: 'grad' is a Uint16Array, but dtype float32 is stored in a Float32Array$/,
      );
      assert.throws(
        () => kernel(0, x, x, x, x, new Float32Array(7), x, null, out, null, 2, 1, 4, 8, contiguous, 1, true, 64),
        /^Error: attentionBackward: 'lse' holds 7 elements, expected 8$/,
      );
      assert.throws(
        () => kernel(0, x, x, x, x, lse, x, null, null, new Float32Array(63), 2, 1, 4, 8, contiguous, 1, true, 64),
        /^Error: attentionBackward: 'dv' is used up to element 63 but holds 63 elements$/,
      );
    }
  });
});
