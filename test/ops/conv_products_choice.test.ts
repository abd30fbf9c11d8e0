// A channels-last float32 convolution's forward and weight gradient come from oneDNN's kernels or
// from patch copies and matrix products, whichever measured faster for its shape on this CPU. The
// op must run the kernel the cache names (the kernels table is watched: on Zen 5 oneDNN's forward
// gave the products' very bits, so bits cannot tell them apart), pass it the right operands (its
// output is that kernel's, bit for bit), measure a shape only once, and leave every convolution
// the products do not take (NCHW, bfloat16, small) to oneDNN unmeasured.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

// Before anything measures: this process's cache is a temp folder of its own.
const dir = mkdtempSync(join(tmpdir(), "turbine-conv-products-"));
process.env.TURBINE_KERNEL_CACHE_DIR = dir;

const { backendName, kernels } = await import("../../src/backends/index.js");
const { addonPath } = await import("../../src/backends/native/addon.js");
const { cpuModelKey } = await import("../../src/backends/native/kernel_tuning.js");
const { conv2d, convAttrs } = await import("../../src/ops/conv.js");
const { cast } = await import("../../src/ops/cast.js");
const { sum } = await import("../../src/ops/reduce.js");
const { manualSeed, randn } = await import("../../src/tensor/random.js");

const cacheFile = join(dir, `kernels-${cpuModelKey()}.json`);

/** x [8, 13, 13, 32] NHWC and w [64, 32, 3, 3]: 36 MFLOP of weight gradient, enough to be measured. */
function operands(seed: number) {
  manualSeed(seed);
  const x = randn([8, 13, 13, 32]);
  const w = randn([64, 32, 3, 3]);
  w.requiresGrad = true;
  const b = randn([64]);
  b.requiresGrad = true;
  return { x, w, b };
}

/** The cache key the op uses for this convolution's forward or weight gradient (its meta, whether it has a bias, the threads). */
function keyOf(kind: "forward" | "backward-weights", meta: Int32Array, bias: boolean): string {
  return `conv2d ${kind} ${Array.from(meta, String).join(",")}${bias ? " bias" : ""} threads ${kernels.getNumThreads()}`;
}

/** The op's output and weight gradient of Σ conv2d(x, w) (+ b). */
function opRun(seed: number, bias: boolean): { y: Float32Array; dw: Float32Array } {
  const { x, w, b } = operands(seed);
  const y = conv2d(x, w, bias ? b : null, { layout: "nhwc" });
  sum(y).backward();
  return { y: y.data as Float32Array, dw: w.grad!.data as Float32Array };
}

/** One kernel's output, with the bias or without. */
function kernelOutput(seed: number, kernel: "conv2d" | "conv2dGemm", bias = false): Float32Array {
  const { x, w, b } = operands(seed);
  const { meta, outShape } = convAttrs("conv2d", x, w, null, { layout: "nhwc" });
  const y = new Float32Array(outShape.reduce((a, n) => a * n, 1));
  kernels[kernel](x.data, w.data, bias ? (b.data as Float32Array) : null, y, 0, meta);
  return y;
}

/** One kernel's weight gradient of the same sum (dy all ones). */
function kernelGradient(seed: number, kernel: "conv2dBackwardWeights" | "conv2dBackwardWeightsGemm"): Float32Array {
  const { x, w } = operands(seed);
  const { meta, outShape } = convAttrs("conv2d", x, w, null, { layout: "nhwc" });
  const dw = new Float32Array(w.size);
  kernels[kernel](x.data, new Float32Array(outShape.reduce((a, n) => a * n, 1)).fill(1), dw, null, 0, 0, meta);
  return dw;
}

const sameBits = (a: Float32Array, b: Float32Array): boolean => a.every((v, i) => Object.is(v, b[i]));

const WATCHED = ["conv2d", "conv2dGemm", "conv2dBackwardWeights", "conv2dBackwardWeightsGemm"] as const;

/** fn's result and the watched convolution kernels it called through the kernels table, in order. */
function kernelsCalled<T>(fn: () => T): { result: T; called: string[] } {
  const called: string[] = [];
  const table = kernels as unknown as Record<string, (...args: unknown[]) => unknown>;
  const originals = WATCHED.map((name) => table[name]!);
  WATCHED.forEach((name, i) => {
    table[name] = (...args) => {
      called.push(name);
      return originals[i]!(...args);
    };
  });
  try {
    return { result: fn(), called };
  } finally {
    WATCHED.forEach((name, i) => (table[name] = originals[i]!));
  }
}

test("the op runs the kernels the cache names, bit for bit, and measures an unknown shape once", {
  skip: backendName !== "native" && "the js backend measures nothing",
}, () => {
  const { x, w } = operands(1);
  const meta = convAttrs("conv2d", x, w, null, { layout: "nhwc" }).meta;
  const build = createHash("sha256").update(readFileSync(addonPath())).digest("hex").slice(0, 16);
  // Without a bias the cache says products for the forward and oneDNN for the weight gradient;
  // with one, the other way round.
  const choices = {
    [keyOf("forward", meta, false)]: "gemm",
    [keyOf("backward-weights", meta, false)]: "onednn",
    [keyOf("forward", meta, true)]: "onednn",
    [keyOf("backward-weights", meta, true)]: "gemm",
  };
  writeFileSync(cacheFile, JSON.stringify({ version: 1, build, choices }));
  const plain = kernelsCalled(() => opRun(1, false));
  assert.deepEqual(plain.called, ["conv2dGemm", "conv2dBackwardWeights"], "the kernels the cache names without a bias");
  assert.ok(sameBits(plain.result.y, kernelOutput(1, "conv2dGemm")), "the forward's output is not its kernel's");
  assert.ok(sameBits(plain.result.dw, kernelGradient(1, "conv2dBackwardWeights")), "the weight gradient is not its kernel's");
  const biased = kernelsCalled(() => opRun(1, true));
  assert.deepEqual(biased.called, ["conv2d", "conv2dBackwardWeightsGemm"], "the kernels the cache names with a bias");
  assert.ok(sameBits(biased.result.y, kernelOutput(1, "conv2d", true)), "the biased forward's output is not its kernel's");
  assert.ok(sameBits(biased.result.dw, kernelGradient(1, "conv2dBackwardWeightsGemm")), "the biased weight gradient is not its kernel's");

  // Another batch size is another shape: measured on its first backward, stored, then reused.
  manualSeed(2);
  const x2 = randn([6, 13, 13, 32]);
  const meta2 = convAttrs("conv2d", x2, w, null, { layout: "nhwc" }).meta;
  const w2 = randn([64, 32, 3, 3]);
  w2.requiresGrad = true;
  sum(conv2d(x2, w2, null, { layout: "nhwc" })).backward();
  const stored = (JSON.parse(readFileSync(cacheFile, "utf8")) as { choices: Record<string, string> }).choices;
  for (const kind of ["forward", "backward-weights"] as const)
    assert.ok(["onednn", "gemm"].includes(stored[keyOf(kind, meta2, false)]!), JSON.stringify(stored));
});

test("NCHW, bfloat16 and small convolutions are left to oneDNN without a measurement", {
  skip: backendName !== "native" && "the js backend measures nothing",
}, () => {
  const before = JSON.stringify((JSON.parse(readFileSync(cacheFile, "utf8")) as { choices: object }).choices);
  manualSeed(3);
  const cases = [
    { x: randn([8, 32, 13, 13]), layout: "nchw" as const, dtype: "float32" as const },
    { x: randn([8, 13, 13, 32]), layout: "nhwc" as const, dtype: "bfloat16" as const },
    { x: randn([1, 13, 13, 32]), layout: "nhwc" as const, dtype: "float32" as const },
  ];
  for (const { x, layout, dtype } of cases) {
    const w = cast(randn([64, 32, 3, 3]), dtype);
    w.requiresGrad = true;
    const { called } = kernelsCalled(() => sum(conv2d(cast(x, dtype), w, null, { layout })).backward());
    assert.deepEqual(called, ["conv2d", "conv2dBackwardWeights"], `${layout} ${dtype}: oneDNN's kernels`);
    assert.ok(w.grad, `${layout} ${dtype}: no weight gradient`);
  }
  const after = JSON.stringify((JSON.parse(readFileSync(cacheFile, "utf8")) as { choices: object }).choices);
  assert.equal(after, before);
});
