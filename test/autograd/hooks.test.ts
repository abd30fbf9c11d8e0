import assert from "node:assert/strict";
import { test } from "node:test";

import { addBackwardHooks } from "../../src/autograd/hooks.js";
import { add, mul } from "../../src/ops/binary.js";
import { matmul } from "../../src/ops/matmul.js";
import { sum } from "../../src/ops/reduce.js";
import { tensor } from "../../src/tensor/create.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";

test("gradReady fires once per leaf when its gradient is final, in the order backward finishes them; backwardEnd fires last", () => {
  const w1 = tensor([[1, 2], [3, 4]], { requiresGrad: true });
  const w2 = tensor([[0.5, -1], [2, 1]], { requiresGrad: true });
  const unused = tensor([1, 2], { requiresGrad: true });
  const events: string[] = [];
  const grads = new Map<Tensor, number[]>();
  const names = new Map<Tensor, string>([[w1, "w1"], [w2, "w2"], [unused, "unused"]]);
  const remove = addBackwardHooks({
    gradReady: (leaf) => {
      events.push(names.get(leaf) ?? "?");
      grads.set(leaf, leaf.grad!.toArray());
    },
    backwardEnd: () => events.push("end"),
  });
  try {
    tidy(() => {
      // w1 is used twice (early and late): it is ready only after its early use's contribution.
      const h = matmul(w1, w2);
      const out = add(matmul(h, w1), mul(unused, 0));
      sum(out).backward();
    });
  } finally {
    remove();
  }
  assert.deepEqual(events.filter((e) => e !== "end").sort(), ["unused", "w1", "w2"]);
  assert.equal(events.at(-1), "end");
  assert.equal(events.filter((e) => e === "w1").length, 1);
  assert.deepEqual(grads.get(w1), w1.grad!.toArray(), "w1's gradient was complete when it fired");
  assert.deepEqual(grads.get(w2), w2.grad!.toArray());
  assert.ok(events.indexOf("unused") < events.indexOf("w1"), "a leaf used only late in the forward is ready early in backward");
  events.length = 0;
  tidy(() => sum(matmul(w1, w2)).backward());
  assert.deepEqual(events, [], "removed hooks no longer fire");
});

test("nodeDone fires after each node's backward, after the gradReady of the leaves that node finished, and before backwardEnd", () => {
  const w1 = tensor([[1, 2], [3, 4]], { requiresGrad: true });
  const w2 = tensor([[0.5, -1], [2, 1]], { requiresGrad: true });
  const events: string[] = [];
  const remove = addBackwardHooks({
    gradReady: (leaf) => events.push(leaf === w1 ? "w1" : "w2"),
    nodeDone: () => events.push("node"),
    backwardEnd: () => events.push("end"),
  });
  try {
    // Nodes: sum, the outer matmul, the inner matmul (w1 is final only after the inner one).
    tidy(() => sum(matmul(matmul(w1, w2), w1)).backward());
  } finally {
    remove();
  }
  assert.deepEqual(events, ["node", "node", "w1", "w2", "node", "end"]);
});
