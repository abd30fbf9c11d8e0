// Padded operands: a product's operand copied into rows 64 bytes longer before oneDNN reads it
// (its rows a multiple of 1 KiB long ran at half speed on Zen 3). The padding is a layout only:
// every choice must give the unpadded product up to the rounding of its sums (oneDNN may pick
// another kernel, with another summation order, for the padded strides: on Zen 3 the bits were
// the same, on Zen 5 they were not), and the choice is measured once per shape and kept in the
// kernel cache.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

// Before anything measures: this process's cache is a temp folder of its own.
const dir = mkdtempSync(join(tmpdir(), "turbine-padding-"));
process.env.TURBINE_KERNEL_CACHE_DIR = dir;

const { backendName, kernels } = await import("../../src/backends/index.js");
const { cpuModelKey } = await import("../../src/backends/native/kernel_tuning.js");
const { gemm, gemmMeta } = await import("../../src/ops/matmul.js");
const { NO_PADS, paddedOperands } = await import("../../src/ops/padded_operands.js");
const { cast } = await import("../../src/ops/cast.js");
const { manualSeed, randn } = await import("../../src/tensor/random.js");

type Gemm = Parameters<typeof gemm>[2];
const PADS = [NO_PADS, { a: true, b: false }, { a: false, b: true }, { a: true, b: true }];

/** A product's operands as float32 (bfloat16 ones widened exactly) and what it adds (bias or c). */
interface Operands {
  a: Float32Array;
  b: Float32Array;
  /** Per output element: the bias's or the accumulated c's value. */
  added: Float32Array;
}

/** c = op(a)·op(b) (+ bias) (+ c0 when accumulating) with `pads`, straight on the kernel; and its operands. */
function product(
  g: Gemm,
  pads: (typeof PADS)[number],
  dtype: "float32" | "bfloat16",
  accumulate: boolean,
  seed: number,
): { c: Float32Array; operands: Operands } {
  manualSeed(seed);
  const a = cast(randn([g.batchA, g.transA ? g.k : g.m, g.transA ? g.m : g.k]), dtype);
  const b = cast(randn([g.batchB, g.transB ? g.n : g.k, g.transB ? g.k : g.n]), dtype);
  const bias = randn([g.n]).data as Float32Array;
  const c = randn([Math.max(g.batchA, g.batchB), g.m, g.n]).data as Float32Array;
  const added = accumulate ? c.slice() : Float32Array.from(c, (_, i) => bias[i % g.n]!);
  const meta = gemmMeta(g, pads).slice();
  meta[kernels.metaFields().matmul.fields.accumulate] = accumulate ? 1 : 0;
  kernels.matmul(a.data, b.data, c, accumulate ? null : bias, dtype === "float32" ? 0 : 1, 0, meta);
  const wide = (t: typeof a) => cast(t, "float32").data as Float32Array;
  return { c, operands: { a: wide(a), b: wide(b), added } };
}

/**
 * How far apart two float32-accumulated results of the same product may be, per element: each is
 * within γ = (K+1)·u (u = 2⁻²⁴; bfloat16 products are exact in float32) of |op(a)|·|op(b)| +
 * |added| from the exact value, so they are within twice that of each other. (The magnitudes come
 * from the unpadded kernel on the operands' absolute values: a bound needs no more accuracy.) A
 * copied row that is shifted, stale or read with the wrong stride is off by about the entries
 * themselves, hundreds of times this.
 */
function roundingBound(g: Gemm, { a, b, added }: Operands): Float32Array {
  const fixed: Gemm = { ...g, varying: undefined };
  const magnitude = added.map(Math.abs);
  const meta = gemmMeta(fixed, NO_PADS).slice();
  meta[kernels.metaFields().matmul.fields.accumulate] = 1;
  kernels.matmul(a.map(Math.abs), b.map(Math.abs), magnitude, null, 0, 0, meta);
  const gamma = 2 * (g.k + 1) * 2 ** -24;
  return magnitude.map((m) => gamma * m);
}

/** Asserts |got − want| ≤ bound element by element. */
function assertWithin(got: Float32Array, want: Float32Array, bound: Float32Array, where: string): void {
  for (let i = 0; i < got.length; i++)
    if (!(Math.abs(got[i]! - want[i]!) <= bound[i]!))
      assert.fail(`${where}: element ${i} is ${got[i]} against ${want[i]} (bound ${bound[i]!.toExponential(2)})`);
}

// Catches a padded copy with the wrong row length, rows or batch stride (a shifted or stale
// row changes the product), and a pad flag the key leaves out (a padded call served by the
// unpadded primitive reads the copy with the wrong strides).
test("every padding gives the unpadded product: transposed or not, batched, with bias or accumulating, f32 and bf16", () => {
  const shapes: Gemm[] = [
    { batchA: 1, batchB: 1, m: 37, n: 256, k: 512, transA: false, transB: false },
    { batchA: 1, batchB: 1, m: 256, n: 29, k: 512, transA: true, transB: true },
    { batchA: 3, batchB: 1, m: 17, n: 256, k: 256, transA: false, transB: true },
    { batchA: 2, batchB: 2, m: 256, n: 512, k: 9, transA: true, transB: false },
    { batchA: 1, batchB: 3, m: 5, n: 300, k: 256, transA: false, transB: false },
  ];
  let seed = 1;
  for (const g of shapes) {
    for (const dtype of ["float32", "bfloat16"] as const) {
      for (const accumulate of [false, true]) {
        seed += 10;
        const plain = product(g, NO_PADS, dtype, accumulate, seed);
        const bound = roundingBound(g, plain.operands);
        for (const pads of PADS.slice(1)) {
          const padded = product(g, pads, dtype, accumulate, seed);
          // The rows that do not set a padded operand's row length may vary (an expert's rows).
          const varying = { m: !(pads.a && g.transA), k: !(pads.a && !g.transA) && !(pads.b && g.transB) };
          const runtime = product({ ...g, varying }, pads, dtype, accumulate, seed);
          const runtimePlain = product({ ...g, varying }, NO_PADS, dtype, accumulate, seed);
          const where = `${JSON.stringify(g)} ${dtype} accumulate ${accumulate} pads ${JSON.stringify(pads)}`;
          assertWithin(padded.c, plain.c, bound, where);
          assertWithin(runtime.c, runtimePlain.c, bound, `${where} varying ${JSON.stringify(varying)}`);
          assertWithin(runtime.c, plain.c, bound, `${where} varying ${JSON.stringify(varying)} against fixed extents`);
        }
      }
    }
  }
});

test("only operands of at least 1 MiB whose rows are a multiple of 1 KiB, and of a fixed length, are candidates", () => {
  const measured: string[] = [];
  const meta = (pads: (typeof PADS)[number]) => {
    measured.push(JSON.stringify(pads));
    return gemmMeta(g, pads);
  };
  // A [512, 1000] (rows of 4000 bytes) · B [1000, 512] (rows of 2 KiB, 2 MB): only B.
  let g: Gemm = { batchA: 1, batchB: 1, m: 512, n: 512, k: 1000, transA: false, transB: false };
  const a = randn([512, 1000]);
  const b = randn([1000, 512]);
  paddedOperands(a, b, g, null, "float32", meta);
  if (backendName === "native") assert.deepEqual([...new Set(measured)].sort(), [JSON.stringify(NO_PADS), JSON.stringify(PADS[2])].sort());
  // The same operands as a product with varying rows (M): B's stored rows keep their length, so
  // B is still a candidate; with a varying N they do not, and nothing is measured.
  measured.length = 0;
  g = { ...g, varying: { m: true } };
  paddedOperands(a, b, g, null, "float32", meta);
  if (backendName === "native") assert.deepEqual([...new Set(measured)].sort(), [JSON.stringify(NO_PADS), JSON.stringify(PADS[2])].sort());
  measured.length = 0;
  g = { ...g, varying: { n: true } };
  assert.deepEqual(paddedOperands(a, b, g, null, "float32", meta), NO_PADS);
  // Rows of 1 KiB but under 1 MiB (256 × 256 floats): not a candidate.
  g = { batchA: 1, batchB: 1, m: 256, n: 256, k: 256, transA: false, transB: false };
  assert.deepEqual(paddedOperands(randn([256, 256]), randn([256, 256]), g, null, "float32", meta), NO_PADS);
  assert.deepEqual(measured, []);
});

test("the choice is measured once per shape, kept in the cache file, and gemm's product is the same whatever it is", {
  skip: backendName !== "native" && "the js backend measures nothing",
}, () => {
  const g: Gemm = { batchA: 1, batchB: 1, m: 256, n: 1024, k: 1024, transA: false, transB: false };
  const a = randn([256, 1024]);
  const b = randn([1024, 1024]);
  let calls = 0;
  const meta = (pads: (typeof PADS)[number]) => {
    calls++;
    return gemmMeta(g, pads);
  };
  const first = paddedOperands(a, b, g, null, "float32", meta);
  assert.ok(calls >= 2, `measured ${calls} runs`);
  calls = 0;
  assert.deepEqual(paddedOperands(a, b, g, null, "float32", meta), first);
  assert.equal(calls, 0, "a stored choice is measured again");
  const cache = JSON.parse(readFileSync(join(dir, `kernels-${cpuModelKey()}.json`), "utf8")) as { choices: Record<string, string> };
  const key = Object.keys(cache.choices).find((k) => k.startsWith("matmul padding float32>float32 1/1x256x1024x1024 NN"));
  assert.ok(key, Object.keys(cache.choices).join("; "));
  // A [256, 1024] (1 MiB of 4 KiB rows) and B [1024, 1024] are both candidates.
  assert.ok(["none", "a", "b", "ab"].includes(cache.choices[key]!), cache.choices[key]);
  // gemm with the stored choice against the kernel without padding: the same product.
  const out = gemm(a, b, g).data as Float32Array;
  const plain = new Float32Array(256 * 1024);
  kernels.matmul(a.data, b.data, plain, null, 0, 0, gemmMeta(g, NO_PADS).slice());
  const bound = roundingBound(g, { a: a.data as Float32Array, b: b.data as Float32Array, added: new Float32Array(plain.length) });
  assertWithin(out, plain, bound, "gemm with the stored choice");
});
