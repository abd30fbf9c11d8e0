import assert from "node:assert/strict";
import { test } from "node:test";

import { Linear } from "../../src/nn/linear.js";
import { add } from "../../src/ops/binary.js";
import { layerNorm } from "../../src/ops/norm.js";
import { gelu } from "../../src/ops/unary.js";
import { ones, tensor, zeros } from "../../src/tensor/create.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { type Model, replayed } from "./replayed.js";

/**
 * The fusion pass (src/compile/fuse.ts): each rewrite changes the replayed program (fewer kernel
 * calls, the pair counted) and leaves the losses and gradients what the unfused replay gives.
 */

/** Linear with bias, then GELU (erf), as two kernels eagerly; then the head. */
function linearGelu(): Model {
  manualSeed(21);
  const a = new Linear(6, 16),
    b = new Linear(16, 3);
  return { forward: (x) => b.forward(gelu(a.forward(x))), params: [...a.parameters(), ...b.parameters()] };
}

/** A residual add, then LayerNorm of the sum, and the sum read again after (the residual stream). */
function addNorm(): Model {
  manualSeed(22);
  const a = new Linear(6, 6),
    head = new Linear(6, 3);
  const weight = ones([6], { requiresGrad: true }),
    bias = zeros([6], { requiresGrad: true });
  return {
    forward: (x) => {
      const h = add(x, a.forward(x));
      return head.forward(add(h, layerNorm(h, [6], weight, bias)));
    },
    params: [...a.parameters(), ...head.parameters(), weight, bias],
  };
}

function batchOf(seed: number): [Tensor, Tensor] {
  manualSeed(200 + seed);
  return [
    randn([5, 6]),
    tensor(
      Array.from({ length: 5 }, (_, i) => (i * 2 + seed) % 3),
      { dtype: "int32" },
    ),
  ];
}

test("Linear with bias then GELU replays as one matmulGelu, with the unfused replay's losses and gradients", () => {
  const fused = replayed(linearGelu(), batchOf, { fusion: true }),
    plain = replayed(linearGelu(), batchOf, { fusion: false });
  assert.deepEqual(fused.stats.fused, { linearGelu: 1, addLayerNorm: 0 });
  assert.deepEqual(plain.stats.fused, { linearGelu: 0, addLayerNorm: 0 });
  assert.equal(fused.stats.kernels, plain.stats.kernels - 1, "the GELU call is gone");
  assert.deepEqual(fused.losses, plain.losses);
  assert.deepEqual(fused.grads, plain.grads);
});

test("a residual add then LayerNorm replays as one addLayerNorm, the sum still there for what reads it later", () => {
  const fused = replayed(addNorm(), batchOf, { fusion: true }),
    plain = replayed(addNorm(), batchOf, { fusion: false });
  assert.deepEqual(fused.stats.fused, { linearGelu: 0, addLayerNorm: 1 });
  assert.equal(fused.stats.kernels, plain.stats.kernels - 1, "the add call is gone");
  assert.deepEqual(fused.losses, plain.losses);
  assert.deepEqual(fused.grads, plain.grads);
});
