import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";

import { backward } from "../../src/autograd/backward.js";
import * as ops from "../../src/ops/index.js";
import { tensor } from "../../src/tensor/create.js";
import { loadSafetensors } from "../../src/tensor/safetensors.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { fixturesDir } from "../helpers/paths.js";

// The ops at the benchmark workloads' shapes against PyTorch (test/fixtures/large_shapes.py):
// inputs are a hash formula both sides compute exactly, and the fixture holds 256 sampled
// elements of every output and gradient, computed in float64.
const { tensors, metadata } = loadSafetensors(join(fixturesDir(), "large", "shapes.safetensors"));
const cases = JSON.parse(metadata.cases!) as {
  name: string;
  op: "matmul" | "scaled_dot_product_attention" | "causal_self_attention" | "conv2d";
  attrs: { causal?: boolean; heads?: number };
  inputs: [string, number[], number, number][];
  out_shape: number[];
  gout_seed: number;
}[];

/** large_shapes.py's hashed(): an integer hash of the index mapped to a float32 in [-1, 1), times scale. */
function hashed(shape: number[], seed: number, scale: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (i * 2654435761 + seed * 40503) % 2 ** 32;
    x = (x ^ (x >>> 15)) >>> 0;
    x = Math.imul(x, 2246822519) >>> 0;
    x = (x ^ (x >>> 13)) >>> 0;
    values[i] = ((x >>> 8) / 2 ** 23 - 1) * scale;
  }
  return tensor(values, { shape });
}

function run(op: (typeof cases)[number]["op"], x: Record<string, Tensor>, attrs: (typeof cases)[number]["attrs"]): Tensor {
  switch (op) {
    case "matmul":
      return ops.matmul(x.a!, x.b!);
    case "scaled_dot_product_attention":
      return ops.scaledDotProductAttention(x.q!, x.k!, x.v!, { causal: attrs.causal });
    case "causal_self_attention":
      return ops.causalSelfAttention(x.qkv!, attrs.heads!);
    case "conv2d":
      return ops.conv2d(x.x!, x.w!, x.b);
  }
}

/**
 * |turbine − PyTorch| ≤ RTOL·|PyTorch| + FLOOR·max|PyTorch| per sampled element. Measured on
 * these cases (largest |diff| / max|PyTorch| per tensor): matmuls 2.4e-7 – 4.6e-7, attention
 * 4.0e-8 – 7.2e-7, convolutions 5.5e-8 – 8.0e-7 (the 1→32 bias gradient, a sum of 1352 terms).
 * The bound sits 12× above the worst; computing in bfloat16 anywhere (3.9e-3 per rounding) or
 * a wrong mask, scale or layout is orders of magnitude beyond it.
 */
const RTOL = 1e-5,
  FLOOR = 1e-5;

for (const c of cases) {
  test(`${c.op} at a benchmark shape, ${c.name}: sampled outputs and gradients match PyTorch`, () => {
    tidy(() => {
      const inputs = Object.fromEntries(
        c.inputs.map(([n, shape, scale, seed]) => {
          const t = hashed(shape, seed, scale);
          t.requiresGrad = true;
          return [n, t];
        }),
      );
      const out = run(c.op, inputs, c.attrs);
      assert.deepEqual([...out.shape], c.out_shape, "output shape");
      const results: [string, Tensor][] = [["out", out]];
      backward(out, hashed(c.out_shape, c.gout_seed, 1));
      for (const [n] of c.inputs) results.push([`grad/${n}`, inputs[n]!.grad!]);
      for (const [key, t] of results) {
        const index = tensors[`${c.name}/${key}/index`]!.toArray();
        const expected = tensors[`${c.name}/${key}/value`]!.toArray();
        const scale = tensors[`${c.name}/${key}/scale`]!.item();
        const actual = t.toArray();
        index.forEach((at, i) => {
          const diff = Math.abs(actual[at]! - expected[i]!);
          assert.ok(
            diff <= RTOL * Math.abs(expected[i]!) + FLOOR * scale,
            `${c.name} ${key}[${at}]: ${actual[at]} vs PyTorch ${expected[i]} (|diff| ${diff.toExponential(2)}, scale ${scale.toExponential(2)})`,
          );
        });
      }
    });
  });
}
