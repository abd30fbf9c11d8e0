import assert from "node:assert/strict";
import { test } from "node:test";

import { kernels, metaFields } from "../../src/backends/index.js";
import { ExpertMLP } from "../../src/nn/moe.js";
import { Linear } from "../../src/nn/linear.js";
import { sum } from "../../src/ops/reduce.js";
import { randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";

const F = metaFields.matmul.fields;

interface Product {
  m: number;
  n: number;
  k: number;
  runtime: string;
}

/** The products fn runs (matmul and matmulGelu), each with the extents its meta marks as runtime. */
function products(fn: () => void): Product[] {
  const { matmul, matmulGelu } = kernels;
  const seen: Product[] = [];
  const record = (meta: Int32Array): void => {
    const runtime = (["m", "n", "k"] as const).filter((e) => meta[F[`runtime${e.toUpperCase()}` as "runtimeM"]] !== 0).join("");
    seen.push({ m: meta[F.m]!, n: meta[F.n]!, k: meta[F.k]!, runtime });
  };
  kernels.matmul = (a, b, c, bias, tab, tc, meta) => {
    record(meta);
    matmul(a, b, c, bias, tab, tc, meta);
  };
  kernels.matmulGelu = (a, b, c, bias, tab, tc, meta, pre) => {
    record(meta);
    matmulGelu(a, b, c, bias, tab, tc, meta, pre);
  };
  try {
    fn();
  } finally {
    kernels.matmul = matmul;
    kernels.matmulGelu = matmulGelu;
  }
  return seen;
}

test("a Linear with varyingRows marks the extent that comes from the rows as runtime in forward, dX and dW", () => {
  const layer = new Linear(6, 4, { varyingRows: true });
  const seen = products(() =>
    tidy(() => {
      const x = randn([5, 6], { requiresGrad: true });
      sum(layer.forward(x)).backward();
    }),
  );
  // Forward [5, 6]·Wᵀ: M is the rows. dX = dY·W: M is the rows. dW = dYᵀ·X: K is the rows.
  assert.deepEqual(seen, [
    { m: 5, n: 4, k: 6, runtime: "m" },
    { m: 5, n: 6, k: 4, runtime: "m" },
    { m: 4, n: 6, k: 5, runtime: "k" },
  ]);
});

test("a dense Linear marks nothing as runtime, so its products keep their fixed-shape primitives", () => {
  const layer = new Linear(6, 4);
  const seen = products(() => tidy(() => sum(layer.forward(randn([5, 6], { requiresGrad: true }))).backward()));
  assert.equal(seen.length, 3);
  for (const p of seen) assert.equal(p.runtime, "", JSON.stringify(p));
});

test("an expert's fused GELU layer and its projection both run on runtime rows, for every row count", () => {
  const expert = new ExpertMLP(4, 8);
  for (const rows of [3, 7, 1]) {
    const seen = products(() => tidy(() => sum(expert.forward(randn([rows, 4], { requiresGrad: true }))).backward()));
    assert.equal(seen.length, 6);
    for (const p of seen) assert.equal(p.runtime, p.m === rows ? "m" : "k", JSON.stringify(p));
  }
});
