// Low-precision products through float32 (src/backends/native/through_float32.ts): what every
// CPU without oneDNN's bfloat16 kernels runs (Zen 3, AVX2 only), checked on any CPU by forcing
// bfloat16 through the wrapper.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";

import { DTYPE } from "../../src/backends/js/dtype.js";
import type { Kernels } from "../../src/backends/kernels.js";
import { addonPath, loadNative } from "../../src/backends/native/addon.js";
import { lowDtypesOf, oneDnnRunsBfloat16, throughFloat32 } from "../../src/backends/native/through_float32.js";
import { Rng } from "../../src/data/random.js";
import { assertSameBits, zerosLike } from "./js/kernel_check.js";
import { random } from "./js/oracle_check.js";

const native = loadNative();
const { kernels: widened, straight } = throughFloat32(native, [DTYPE.bfloat16, DTYPE.float16]);
const GELU = native.unaryCodes().forward.gelu_erf!;
const BF16 = DTYPE.bfloat16;

/** x [M, K] · wᵀ (w [N, K]), optionally adding into c. */
const linearMeta = (m: number, n: number, k: number, accumulate = 0): Int32Array => Int32Array.of(1, 1, m, n, k, 0, 1, accumulate, 0, 0, 0, 0, 0);

/** A bfloat16 array widened to float32 by the cast kernel (exact). */
function wide(x: Uint16Array): Float32Array {
  const out = new Float32Array(x.length);
  native.cast(BF16, x, DTYPE.float32, out);
  return out;
}

/** A float32 array rounded once to bfloat16 by the cast kernel. */
function narrow(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  native.cast(DTYPE.float32, x, BF16, out);
  return out;
}

test("oneDNN's bfloat16 products are probed, not assumed: they run where the CPU has AVX-512 and go through float32 elsewhere", () => {
  const raw = createRequire(import.meta.url)(addonPath()) as Kernels;
  const flags = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const avx512 = /\bavx512bw\b/.test(flags);
  assert.equal(oneDnnRunsBfloat16(raw), avx512, `avx512bw ${avx512}`);
  assert.deepEqual(lowDtypesOf(raw), avx512 ? [DTYPE.float16] : [BF16, DTYPE.float16]);
  // The backend's own table runs them either way.
  assert.equal(oneDnnRunsBfloat16(native), true);
});

test("bfloat16 through float32: the float32 product of the operands rounded once, adding into c in float32, with the bias", () => {
  const rng = Rng.seeded(5);
  const [m, n, k] = [7, 33, 19];
  const a = random(rng, BF16, m * k) as Uint16Array;
  const b = random(rng, BF16, n * k) as Uint16Array;
  const bias = random(rng, DTYPE.float32, n) as Float32Array;
  const c0 = random(rng, BF16, m * n) as Uint16Array;
  const product = new Float32Array(m * n);
  native.matmul(wide(a), wide(b), product, bias, DTYPE.float32, DTYPE.float32, linearMeta(m, n, k));
  const c = zerosLike(BF16, m * n) as Uint16Array;
  widened.matmul(a, b, c, bias, BF16, BF16, linearMeta(m, n, k));
  assertSameBits(c, narrow(product), "bf16 into bf16");
  const into32 = new Float32Array(m * n);
  widened.matmul(a, b, into32, bias, BF16, DTYPE.float32, linearMeta(m, n, k));
  assertSameBits(into32, product, "bf16 into f32");
  const sum = Float32Array.from(product, (x, i) => x + wide(c0)[i]!);
  const acc = Uint16Array.from(c0);
  widened.matmul(a, b, acc, bias, BF16, BF16, linearMeta(m, n, k, 1));
  assertSameBits(acc, narrow(sum), "accumulate: the sum in float32, rounded once");
});

test("bfloat16 matmulGelu through float32 is the addon's: c the unary GELU of the stored bf16 pre-activation, bit for bit, with or without it", () => {
  const rng = Rng.seeded(6);
  const [m, n, k] = [5, 40, 24];
  const a = random(rng, BF16, m * k) as Uint16Array;
  const b = random(rng, BF16, n * k) as Uint16Array;
  const pre = zerosLike(BF16, m * n) as Uint16Array;
  const c = zerosLike(BF16, m * n) as Uint16Array;
  widened.matmulGelu(a, b, c, null, BF16, BF16, linearMeta(m, n, k), pre);
  const product = zerosLike(BF16, m * n) as Uint16Array;
  widened.matmul(a, b, product, null, BF16, BF16, linearMeta(m, n, k));
  assertSameBits(pre, product, "pre-activation");
  const gelu = zerosLike(BF16, m * n) as Uint16Array;
  native.unary(GELU, BF16, pre, gelu, 0);
  assertSameBits(c, gelu, "c");
  const alone = zerosLike(BF16, m * n) as Uint16Array;
  widened.matmulGelu(a, b, alone, null, BF16, BF16, linearMeta(m, n, k), null);
  assertSameBits(alone, c, "without the pre-activation");
});

test("a compiled step's replay binds the addon's kernel only for calls with no widened dtype", () => {
  const meta = linearMeta(1, 1, 1);
  assert.equal(straight("matmul", [null, null, null, null, DTYPE.float32, DTYPE.float32, meta]), true);
  assert.equal(straight("matmul", [null, null, null, null, BF16, DTYPE.float32, meta]), false);
  assert.equal(straight("matmul", [null, null, null, null, DTYPE.float32, BF16, meta]), false);
  assert.equal(straight("conv2d", [null, null, null, null, BF16, meta]), false);
  assert.equal(straight("conv2dBackwardWeights", [null, null, null, null, DTYPE.float32, BF16, meta]), false);
  assert.equal(straight("binary", [0, BF16]), true);
  const forF16 = throughFloat32(native, [DTYPE.float16]).straight;
  assert.equal(forF16("matmul", [null, null, null, null, BF16, BF16, meta]), true);
});
