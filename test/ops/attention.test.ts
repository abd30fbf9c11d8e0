import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";

import { noGrad } from "../../src/autograd/grad_mode.js";
import * as ops from "../../src/ops/index.js";
import { tensor, zeros } from "../../src/tensor/create.js";
import { memory } from "../../src/tensor/memory.js";
import { backendName, kernels } from "../../src/backends/index.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { checkOpFixtures } from "../helpers/op_fixtures.js";

const sdpa = ops.scaledDotProductAttention;
const selfAttention = ops.causalSelfAttention;

// bf16 inputs on a CPU with AVX512_BF16: the probabilities are rounded to bf16 before P·V, as
// PyTorch's own CPU flash attention does (its reduced-type path), so the output moves by about
// one bf16 rounding, and the gradients, through Δ = rowsum(dO∘O), by up to 3e-3 of their largest
// element (the fixtures' references are computed in f32 and rounded once): the floor is one bf16
// ulp of the largest element.
const BF16_DOT = { rtol: 1e-2, floor: 2 ** -7 };

checkOpFixtures("scaled_dot_product_attention", ({ q, k, v }, { causal, scale, blockSize }) => sdpa(q!, k!, v!, { causal, scale, blockSize }), {
  bf16: BF16_DOT,
});

checkOpFixtures("causal_self_attention", ({ qkv }, { heads, scale, blockSize }) => selfAttention(qkv!, heads, { scale, blockSize }), { bf16: BF16_DOT });

/** A deterministic pseudo-random tensor; `phase` tells q, k and v apart. */
function wave(shape: number[], phase = 0, scale = 1): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tensor(
    Float32Array.from({ length: size }, (_, i) => scale * Math.sin(i * 0.7 + phase + Math.cos(i * 0.013))),
    { shape },
  );
}

/** q, k and v of one shape that require gradients. */
function qkv(shape: number[]): [Tensor, Tensor, Tensor] {
  const ts = [1, 2, 3].map((phase) => wave(shape, phase, 1.5)) as [Tensor, Tensor, Tensor];
  for (const t of ts) t.requiresGrad = true;
  return ts;
}

/** A leaf's gradient as an array; the gradient is disposed (tidy keeps gradients). */
function gradOf(t: Tensor): number[] {
  const values = t.grad!.toArray();
  t.grad!.dispose();
  return values;
}

describe("scaledDotProductAttention memory", () => {
  // The tracker counts tensor storage exactly. What forward and backward add on top of the
  // inputs and the upstream gradient is the output, the f32 log-sum-exp per row (saved for
  // backward), backward's copy of the upstream gradient and dq, dk, dv: all T·D or T elements,
  // so the peak is linear in T. An implementation that materialised the T × T scores or
  // probabilities as tensors (16 MB at T = 2048 against 64 KB for q) would multiply the peak by
  // 16, not 4, from T = 512 to 2048. The kernels' own tiles live in native per-thread buffers
  // the tracker does not see; they are block × block, plus in backward one head's T × D dQ
  // accumulator (native/attention.cc), so they are linear in T as well.
  const peakOf = (t: number): number =>
    tidy(() => {
      const shape = [1, 1, t, 8];
      const [q, k, v] = qkv(shape);
      const g = wave(shape, 4);
      const before = memory.report().total;
      memory.resetPeak();
      sdpa(q, k, v, { blockSize: 64 }).backward(g);
      const peak = memory.report().peakTotal - before;
      for (const x of [q, k, v]) x.grad!.dispose();
      return peak;
    });

  test("the peak of forward + backward grows linearly in T", () => {
    const [p128, p512, p2048] = [128, 512, 2048].map(peakOf) as [number, number, number];
    assert.ok(Math.abs(p2048 / p512 - 4) < 0.1, `peak(2048)/peak(512) = ${p2048 / p512}, expected 4 (peaks ${p128}, ${p512}, ${p2048})`);
    // The straight line through T = 128 and 2048 predicts T = 512 within a few per cent.
    const line = p128 + ((p2048 - p128) * (512 - 128)) / (2048 - 128);
    assert.ok(Math.abs(p512 / line - 1) < 0.03, `peak(512) = ${p512}, the linear fit gives ${line}`);
  });

  test("the log-sum-exp is allocated only when a graph is recorded", () =>
    tidy(() => {
      const [bh, t, d] = [6, 40, 16];
      const [q, k, v] = qkv([2, 3, t, d]);
      const before = memory.report().total;
      memory.resetPeak();
      noGrad(() => sdpa(q, k, v));
      assert.equal(memory.report().peakTotal - before, bh * t * d * 4, "no grad: the output alone");
      memory.resetPeak();
      const mid = memory.report().total;
      sdpa(q, k, v);
      assert.equal(memory.report().peakTotal - mid, bh * t * d * 4 + bh * t * 4, "recording: output and log-sum-exp");
    }));

  test("a rejected call and a finished backward leave no memory behind", () => {
    const [q, k, v] = qkv([2, 5, 8]);
    const before = memory.report().total;
    assert.throws(() => sdpa(q, k, v, { blockSize: 0 }), /blockSize/);
    assert.equal(memory.report().total, before);
    tidy(() => sdpa(q, k, v).backward(wave([2, 5, 8], 4)));
    for (const x of [q, k, v]) x.grad!.dispose();
    assert.equal(memory.report().total, before);
    for (const x of [q, k, v]) x.dispose();
  });
});

describe("scaledDotProductAttention results do not depend on the thread count", () => {
  for (const causal of [true, false]) {
    test(causal ? "causal" : "full", () => {
      // 6 heads × 5 query blocks: forward splits blocks, backward heads, over two threads.
      const run = (): number[][] => {
        const [q, k, v] = qkv([2, 3, 70, 16]);
        const y = sdpa(q, k, v, { causal, blockSize: 16 });
        y.backward(wave([2, 3, 70, 16], 4));
        return [y.toArray(), gradOf(q), gradOf(k), gradOf(v)];
      };
      const threads = kernels.getNumThreads();
      try {
        kernels.setNumThreads(1);
        const one = tidy(run);
        kernels.setNumThreads(2);
        assert.deepEqual(tidy(run), one);
      } finally {
        kernels.setNumThreads(threads);
      }
    });
  }
});

describe("scaledDotProductAttention errors", () => {
  test("q, k and v must share one shape of rank >= 2 with D >= 1", () =>
    tidy(() => {
      const shapes = /scaledDotProductAttention: q \[2, 3, 8, 16\], k \[2, 3, 8, 8\] and v \[2, 3, 8, 16\] must have one shape \[\.\.\., T, D\]/;
      assert.throws(() => sdpa(zeros([2, 3, 8, 16]), zeros([2, 3, 8, 8]), zeros([2, 3, 8, 16])), shapes);
      assert.throws(() => sdpa(zeros([4, 8]), zeros([4, 8]), zeros([5, 8])), /scaledDotProductAttention: q \[4, 8\], k \[4, 8\] and v \[5, 8\]/);
      assert.throws(() => sdpa(zeros([8]), zeros([8]), zeros([8])), /scaledDotProductAttention: q \[8\], k \[8\] and v \[8\] must have one shape/);
      assert.throws(() => sdpa(zeros([3, 0]), zeros([3, 0]), zeros([3, 0])), /scaledDotProductAttention: the head dimension D of \[3, 0\] must be at least 1/);
    }));

  test("q, k and v must share one floating dtype", () =>
    tidy(() => {
      const bf16 = zeros([2, 4, 8], { dtype: "bfloat16" });
      assert.throws(
        () => sdpa(zeros([2, 4, 8]), bf16, zeros([2, 4, 8])),
        /scaledDotProductAttention: dtypes differ: float32 \[2, 4, 8\] and bfloat16 \[2, 4, 8\]/,
      );
      const ints = zeros([2, 4, 8], { dtype: "int32" });
      assert.throws(() => sdpa(ints, ints, ints), /scaledDotProductAttention: expected a floating tensor, got int32 \[2, 4, 8\]/);
    }));

  test("options are checked", () =>
    tidy(() => {
      const x = zeros([2, 4, 8]);
      for (const blockSize of [0, 257, 1.5, NaN]) {
        assert.throws(
          () => sdpa(x, x, x, { blockSize }),
          new RegExp(`scaledDotProductAttention: blockSize must be an integer in \\[1, 256\\], got ${blockSize}`),
        );
      }
      assert.throws(() => sdpa(x, x, x, { scale: Infinity }), /scaledDotProductAttention: scale must be a finite number, got Infinity/);
      assert.throws(() => sdpa(x, x, x, { causal: 1 as unknown as boolean }), /scaledDotProductAttention: causal must be a boolean, got 1/);
    }));

  // [offset, batch, head, time] of q, k, v and out: contiguous [2, 1, 4, 8], and a packed qkv
  // [2, 4, 3·8] with a merged output [2, 4, 8].
  const contiguous = Int32Array.from([0, 1, 2, 3].flatMap(() => [0, 32, 0, 8]));
  const packedLayout = Int32Array.from([0, 96, 8, 24, 8, 96, 8, 24, 16, 96, 8, 24, 0, 32, 8, 8]);

  test("the kernels check every argument before touching memory", () => {
    const x = new Float32Array(2 * 4 * 8);
    const out = new Float32Array(2 * 4 * 8).fill(7);
    const lse = new Float32Array(8).fill(7);
    const call = (args: Partial<{ q: Float32Array; lse: Float32Array; t: number; d: number; scale: number; block: number; layout: Int32Array }>) =>
      kernels.attention(
        0,
        args.q ?? x,
        x,
        x,
        out,
        args.lse ?? lse,
        2,
        1,
        args.t ?? 4,
        args.d ?? 8,
        args.layout ?? contiguous,
        args.scale ?? 1,
        true,
        args.block ?? 64,
      );
    assert.throws(() => call({ q: new Float32Array(63) }), /^Error: attention: 'q' is used up to element 63 but holds 63 elements/);
    assert.throws(() => call({ lse: new Float32Array(6) }), /attention: 'lse' holds 6 elements, expected 8/);
    assert.throws(() => call({ block: 0 }), /attention: block size must be an integer in \[1, 256\], got 0/);
    assert.throws(() => call({ block: 300 }), /attention: block size must be an integer in \[1, 256\], got 300/);
    assert.throws(() => call({ scale: NaN }), /attention: scale must be a finite number, got nan/);
    assert.throws(() => call({ t: 2 ** 50, d: 2 ** 20 }), /attention: extents \[2, 1, 1125899906842624, 1048576\] must be non-negative/);
    assert.throws(() => call({ t: 8, d: 0 }), /attention: the head dimension d must be >= 1, got 0/);
    assert.throws(() => call({ layout: new Int32Array(15) }), /attention: 'layout' holds 15 entries, expected at least 16/);
    const negative = contiguous.slice();
    negative[7] = -8;
    assert.throws(() => call({ layout: negative }), /attention: layout entry 7 must be >= 0, got -8/);
    // k's batch stride 33 reaches element 33 + 3·8 + 7 = 64 of 64.
    const shifted = contiguous.slice();
    shifted[5] = 33;
    assert.throws(() => call({ layout: shifted }), /attention: 'k' is used up to element 64 but holds 64 elements/);
    // 2^40 rows 2^30 apart: the last offset is not representable, nothing wraps around.
    const far = contiguous.slice();
    far[3] = 2 ** 30;
    assert.throws(() => call({ t: 2 ** 40, d: 1, layout: far }), /attention: 'q' is used beyond element 2\^63 by its layout/);
    // A packed qkv one element short: v's last column of the last row is 191.
    const qkv = new Float32Array(191);
    assert.throws(
      () => kernels.attention(0, qkv, qkv, qkv, out, lse, 2, 1, 4, 8, packedLayout, 1, true, 64),
      /attention: 'v' is used up to element 191 but holds 191 elements/,
    );
    assert.deepEqual([...out, ...lse], new Array(72).fill(7));
    const bits = new Uint16Array(64);
    assert.throws(
      () => kernels.attentionBackward(0, x, x, x, x, lse, bits, null, out, null, 2, 1, 4, 8, contiguous, 1, true, 64),
      /attentionBackward: 'grad' is a Uint16Array, but dtype float32 is stored in a Float32Array/,
    );
    // dq and dk fit in 191 elements, dv does not.
    const dqkv = new Float32Array(191).fill(7);
    const whole = new Float32Array(192);
    assert.throws(
      () => kernels.attentionBackward(0, whole, whole, whole, x, lse, x, dqkv, dqkv, dqkv, 2, 1, 4, 8, packedLayout, 1, true, 64),
      /attentionBackward: 'dv' is used up to element 191 but holds 191 elements/,
    );
    assert.deepEqual([...out], new Array(64).fill(7));
    assert.deepEqual([...dqkv], new Array(191).fill(7));
  });
});

/** A packed qkv [B, T, 3·heads·D] that requires gradients. */
function packedQkv(b: number, t: number, heads: number, d: number): Tensor {
  const x = wave([b, t, 3 * heads * d], 1, 1.5);
  x.requiresGrad = true;
  return x;
}

describe("causalSelfAttention", () => {
  // The nanoGPT formulation on copies: split, reshape to heads, permute to [B, H, T, D], attend,
  // permute back and merge. The kernels do the same arithmetic in the same order on either
  // layout, so output and gradient agree to the bit.
  test("matches split + permute + scaledDotProductAttention + permute to the bit", () =>
    tidy(() => {
      const [b, t, heads, d] = [2, 37, 3, 8],
        c = heads * d;
      const x = packedQkv(b, t, heads, d);
      const g = wave([b, t, c], 4);
      const y = selfAttention(x, heads, { blockSize: 16 });
      y.backward(g);
      const parts = ops.split(x, c, 2).map((p) => ops.permute(ops.reshape(p, [b, t, heads, d]), [0, 2, 1, 3]));
      const attended = sdpa(parts[0]!, parts[1]!, parts[2]!, { blockSize: 16 });
      const reference = ops.reshape(ops.permute(attended, [0, 2, 1, 3]), [b, t, c]);
      assert.deepEqual(y.shape, [b, t, c]);
      assert.deepEqual(y.toArray(), reference.toArray());
      const fast = gradOf(x);
      reference.backward(g);
      assert.deepEqual(fast, gradOf(x));
    }));

  test("results do not depend on the thread count", () => {
    // 2 batches × 3 heads × 5 query blocks: forward splits blocks, backward heads, over two threads.
    const run = (): number[][] => {
      const x = packedQkv(2, 70, 3, 16);
      const y = selfAttention(x, 3, { blockSize: 16 });
      y.backward(wave([2, 70, 48], 4));
      return [y.toArray(), gradOf(x)];
    };
    const threads = kernels.getNumThreads();
    try {
      kernels.setNumThreads(1);
      const one = tidy(run);
      kernels.setNumThreads(2);
      assert.deepEqual(tidy(run), one);
    } finally {
      kernels.setNumThreads(threads);
    }
  });

  test("allocates its output, the log-sum-exp only when recording, and in backward dqkv alone", () =>
    tidy(() => {
      const [b, t, heads, d] = [2, 40, 3, 8],
        c = heads * d;
      const x = packedQkv(b, t, heads, d);
      const before = memory.report().total;
      memory.resetPeak();
      noGrad(() => selfAttention(x, heads));
      assert.equal(memory.report().peakTotal - before, b * t * c * 4, "no grad: the output alone");
      const mid = memory.report().total;
      memory.resetPeak();
      const y = selfAttention(x, heads);
      assert.equal(memory.report().peakTotal - mid, b * t * c * 4 + b * heads * t * 4, "recording: output and log-sum-exp");
      const g = wave([b, t, c], 4);
      const start = memory.report().total;
      memory.resetPeak();
      y.backward(g);
      // backward() copies the upstream gradient; the rule adds dqkv [B, T, 3C] and nothing else.
      assert.equal(memory.report().peakTotal - start, b * t * c * 4 + b * t * 3 * c * 4, "backward: seed copy and dqkv");
      x.grad!.dispose();
    }));

  test("checks qkv, heads and options", () =>
    tidy(() => {
      assert.throws(() => selfAttention(zeros([4, 24]), 2), /causalSelfAttention: qkv \[4, 24\] must be 3-D \[B, T, 3C\]/);
      assert.throws(() => selfAttention(zeros([1, 2, 4, 24]), 2), /causalSelfAttention: qkv \[1, 2, 4, 24\] must be 3-D/);
      assert.throws(() => selfAttention(zeros([2, 4, 25]), 1), /causalSelfAttention: the last axis of qkv \[2, 4, 25\] must be 3C for some C >= 1, got 25/);
      assert.throws(() => selfAttention(zeros([2, 4, 0]), 1), /causalSelfAttention: the last axis of qkv \[2, 4, 0\] must be 3C for some C >= 1, got 0/);
      assert.throws(() => selfAttention(zeros([2, 4, 24]), 3), /causalSelfAttention: width C = 8 of qkv \[2, 4, 24\] is not a multiple of heads 3/);
      for (const heads of [0, -2, 1.5, NaN]) {
        assert.throws(() => selfAttention(zeros([2, 4, 24]), heads), new RegExp(`causalSelfAttention: heads must be a positive integer, got ${heads}`));
      }
      const ints = zeros([2, 4, 24], { dtype: "int32" });
      assert.throws(() => selfAttention(ints, 2), /causalSelfAttention: expected a floating tensor, got int32 \[2, 4, 24\]/);
      assert.throws(() => selfAttention(zeros([2, 4, 24]), 2, { blockSize: 0 }), /causalSelfAttention: blockSize must be an integer in \[1, 256\], got 0/);
      assert.throws(() => selfAttention(zeros([2, 4, 24]), 2, { scale: NaN }), /causalSelfAttention: scale must be a finite number, got NaN/);
    }));
});

describe("bfloat16 attention's products", () => {
  // /proc/cpuinfo's flags for AVX512_BF16 (vdpbf16ps) and AMX's bf16 tiles; without either the
  // kernels compute in float32.
  const flags = backendName === "native" && existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const amx = /\bamx_bf16\b/.test(flags) && !process.env.TURBINE_NO_AMX;
  const dotProducts = amx || /\bavx512_bf16\b/.test(flags);
  const path = amx ? "AMX tiles" : dotProducts ? "bf16 dot products" : "float32 products";
  // The output and q, k, v's gradients of bf16 inputs, and of the same values in float32 rounded to bf16.
  const both = (shape: number[], causal: boolean, blockSize: number) =>
    tidy(() => {
      const run = (dtype: "bfloat16" | "float32") => {
        const [q, k, v] = [1, 2, 3].map((phase) => ops.cast(ops.cast(wave(shape, phase, 1.5), "bfloat16"), dtype)) as [Tensor, Tensor, Tensor];
        for (const t of [q, k, v]) t.requiresGrad = true;
        const out = sdpa(q, k, v, { causal, blockSize });
        // The upstream gradient is bf16-exact: a bf16 output's gradient is stored in bf16.
        ops.sum(ops.mul(ops.cast(out, "float32"), ops.cast(ops.cast(wave(shape, 4), "bfloat16"), "float32"))).backward();
        return [out, q.grad!, k.grad!, v.grad!].map((t) => ops.cast(ops.cast(t, "bfloat16"), "float32").toArray() as number[]);
      };
      return { low: run("bfloat16"), wide: run("float32") };
    });
  // Catches a bf16 path that is never taken on a CPU that has the instructions, or one taken
  // (rounding the probabilities) on a CPU or backend that has not; and, on the shapes whose
  // rows, depth and head size are not multiples of the tiles' 16 rows and 32-element depth, a
  // tile edge or causal skip that drops or invents terms (the gradients move by far more than
  // the tolerance: dS's split into two bf16 parts, or a skipped diagonal tile, is caught here).
  const cases: [number[], boolean, number][] = [
    [[2, 2, 70, 64], true, 64],
    [[1, 3, 45, 40], true, 16],
    [[1, 2, 33, 24], false, 32],
  ];
  for (const [shape, causal, blockSize] of cases) {
    test(`${path}: close to the float32 computation of the same values, [${shape}] ${causal ? "causal" : "full"}, block ${blockSize}`, () => {
      const { low, wide } = both(shape, causal, blockSize);
      if (dotProducts) {
        assert.ok(
          low[0]!.some((x, i) => x !== wide[0]![i]),
          "bf16 inputs gave the float32 computation's bits: the bf16 path did not run",
        );
      } else {
        // Computed in float32, the output and dV are the float32 computation's bits; dQ and dK
        // differ where Δ reads the output as stored, rounded to bf16 (as PyTorch's does).
        assert.deepEqual(low[0], wide[0], "output");
        assert.deepEqual(low[3], wide[3], "dv");
      }
      // The output moves by one bf16 rounding of the probabilities; the gradients, through
      // Δ = rowsum(dO∘O), by up to 3e-3 of their largest element.
      ["output", "dq", "dk", "dv"].forEach((name, j) => {
        const largest = Math.max(...wide[j]!.map(Math.abs));
        low[j]!.forEach((x, i) =>
          assert.ok(Math.abs(x - wide[j]![i]!) <= 1e-2 * Math.abs(wide[j]![i]!) + 4e-3 * largest, `${name} element ${i}: ${x} against ${wide[j]![i]}`),
        );
      });
    });
  }
});
