import assert from "node:assert/strict";
import { test } from "node:test";

import { linear } from "../../src/ops/matmul.js";
import { slice } from "../../src/ops/layout.js";
import { gelu } from "../../src/ops/unary.js";
import { reshape } from "../../src/ops/view.js";
import { localExperts, mixtureOfExperts, planRouting } from "../../src/nn/moe_routing.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { checkOpFixtures } from "../helpers/op_fixtures.js";

/** Expert e of the fixture's stacked weights: gelu(x·w1[e]ᵀ + b1[e])·w2[e]ᵀ + b2[e]. */
function expert(w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, e: number): (h: Tensor) => Tensor {
  const row = (t: Tensor): Tensor => reshape(slice(t, 0, e, e + 1), t.shape.slice(1));
  return (h) => linear(gelu(linear(h, row(w1), row(b1))), row(w2), row(b2));
}

// PyTorch's token-by-token reference (test/fixtures/ops_moe.py): top-1 and top-2, capacity
// factors 0.5-1.25 that drop assignments, no-drop, and every token on one expert. Catches a wrong
// slot priority (second choices before first), a capacity off by one, renormalised gates, an
// auxiliary loss over kept instead of chosen assignments, and gradients missing through the gate.
checkOpFixtures("moe_layer", ({ x, wr, w1, b1, w2, b2 }, attrs) => {
  const experts = Array.from({ length: wr!.shape[0]! }, (_, e) => expert(w1!, b1!, w2!, b2!, e));
  const { output, auxLoss } = mixtureOfExperts(x!, wr!, localExperts(experts), { topK: attrs.topK, capacityFactor: attrs.capacityFactor, drop: attrs.drop });
  return [output, auxLoss];
});

test("planRouting: first choices take the slots before second choices, and an overflowing choice is dropped", () => {
  // 3 tokens, 2 experts, top-2, capacity ceil(0.5·3·2/2) = 2: all three prefer expert 0.
  const probs = Float32Array.from([0.9, 0.1, 0.8, 0.2, 0.7, 0.3]);
  const plan = planRouting(probs, 3, 2, { topK: 2, capacityFactor: 0.5, drop: true });
  assert.equal(plan.capacity, 2);
  assert.deepEqual(plan.picked, [3, 3]);
  // First choices (tokens 0, 1, 2) fill expert 0, then second choices expert 1: token 2 finds both full.
  assert.deepEqual(plan.rows, [2, 2]);
  assert.deepEqual(Array.from(plan.slotToken), [0, 1, 0, 1]);
  // Each slot's gate: token · experts + expert.
  assert.deepEqual(Array.from(plan.slotProb), [0, 2, 1, 3]);
  const whole = planRouting(probs, 3, 2, { topK: 2, capacityFactor: 0.5, drop: false });
  assert.equal(whole.capacity, 3);
  assert.deepEqual(Array.from(whole.slotToken), [0, 1, 2, 0, 1, 2]);
});

test("planRouting: slots hold only kept assignments (an expert under its capacity is not padded), ties go to the lower expert", () => {
  // Top-1, capacity ceil(1.25·4/2) = 3: expert 0 gets tokens 0, 2 and 3 (a tie), expert 1 token 1.
  const probs = Float32Array.from([0.9, 0.1, 0.2, 0.8, 0.7, 0.3, 0.5, 0.5]);
  const plan = planRouting(probs, 4, 2, { topK: 1, capacityFactor: 1.25, drop: true });
  assert.equal(plan.capacity, 3);
  assert.deepEqual(plan.rows, [3, 1]);
  assert.deepEqual(Array.from(plan.slotToken), [0, 2, 3, 1]);
  assert.deepEqual(Array.from(plan.slotProb), [0, 4, 6, 3]);
});
