import assert from "node:assert/strict";
import { test } from "node:test";

import { currentBackward, registerPostAccumulateGradHook } from "../../src/autograd/hooks.js";
import { checkpoint } from "../../src/autograd/checkpoint.js";
import { add, mul } from "../../src/ops/binary.js";
import { matmul } from "../../src/ops/matmul.js";
import { sum } from "../../src/ops/reduce.js";
import { tensor } from "../../src/tensor/create.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";

test("a post-accumulate-grad hook fires once for its own leaf when its gradient is final, in the order backward finishes them", () => {
  const w1 = tensor(
    [
      [1, 2],
      [3, 4],
    ],
    { requiresGrad: true },
  );
  const w2 = tensor(
    [
      [0.5, -1],
      [2, 1],
    ],
    { requiresGrad: true },
  );
  const unused = tensor([1, 2], { requiresGrad: true });
  const events: string[] = [];
  const grads = new Map<Tensor, number[]>();
  const names = new Map<Tensor, string>([
    [w1, "w1"],
    [w2, "w2"],
    [unused, "unused"],
  ]);
  const record = (leaf: Tensor): void => {
    events.push(names.get(leaf) ?? "?");
    grads.set(leaf, leaf.grad!.toArray());
  };
  const removes = [w1, w2, unused].map((p) => registerPostAccumulateGradHook(p, record));
  try {
    tidy(() => {
      // w1 is used twice (early and late): it is ready only after its early use's contribution.
      const h = matmul(w1, w2);
      const out = add(matmul(h, w1), mul(unused, 0));
      sum(out).backward();
    });
  } finally {
    for (const remove of removes) remove();
  }
  assert.deepEqual([...events].sort(), ["unused", "w1", "w2"]);
  assert.deepEqual(grads.get(w1), w1.grad!.toArray(), "w1's gradient was complete when it fired");
  assert.deepEqual(grads.get(w2), w2.grad!.toArray());
  assert.ok(events.indexOf("unused") < events.indexOf("w1"), "a leaf used only late in the forward is ready early in backward");
  events.length = 0;
  tidy(() => sum(matmul(w1, w2)).backward());
  assert.deepEqual(events, [], "removed hooks no longer fire");
});

test("a hook belongs to its leaf: other leaves of the same graph fire nothing", () => {
  const a = tensor([1, 2], { requiresGrad: true });
  const b = tensor([3, 4], { requiresGrad: true });
  const fired: Tensor[] = [];
  const remove = registerPostAccumulateGradHook(b, (leaf) => fired.push(leaf));
  try {
    tidy(() => sum(mul(a, b)).backward());
  } finally {
    remove();
  }
  assert.deepEqual(fired, [b]);
});

test("onNodeDone and onEnd attach to the backward call in progress: after each later node, once at its end, and not to the next call", () => {
  const w1 = tensor(
    [
      [1, 2],
      [3, 4],
    ],
    { requiresGrad: true },
  );
  const w2 = tensor(
    [
      [0.5, -1],
      [2, 1],
    ],
    { requiresGrad: true },
  );
  const events: string[] = [];
  let attached = 0;
  const hook = (leaf: Tensor): void => {
    events.push(leaf === w1 ? "w1" : "w2");
    if (attached++ > 0) return;
    const pass = currentBackward()!;
    pass.onNodeDone(() => events.push("node"));
    pass.onEnd(() => events.push("end"));
  };
  const removes = [w1, w2].map((p) => registerPostAccumulateGradHook(p, hook));
  try {
    assert.equal(currentBackward(), null, "no backward outside one");
    // Nodes: sum, the outer matmul, the inner matmul (w1 is final only after the inner one).
    tidy(() => sum(matmul(matmul(w1, w2), w1)).backward());
    assert.deepEqual(events, ["w1", "w2", "node", "end"]);
    events.length = 0;
    tidy(() => sum(matmul(w1, w2)).backward());
    assert.deepEqual(events, ["w1", "w2"], "the callbacks of the first call are gone");
  } finally {
    for (const remove of removes) remove();
  }
});

test("through activation checkpointing (a backward inside backward): a parameter used only inside fires once, whole; one used inside and outside fires per walk, whole the last time", () => {
  const inner = tensor(
    [
      [1, -2],
      [0.5, 3],
    ],
    { requiresGrad: true },
  );
  const both = tensor(
    [
      [2, 1],
      [-1, 0.5],
    ],
    { requiresGrad: true },
  );
  const x = tensor(
    [
      [1, 2],
      [3, 4],
    ],
    { requiresGrad: true },
  );
  const seen = new Map<Tensor, number[][]>([
    [inner, []],
    [both, []],
  ]);
  let ends = 0;
  const record = (leaf: Tensor): void => {
    seen.get(leaf)!.push(leaf.grad!.toArray());
    currentBackward()!.onEnd(() => ends++);
  };
  const removes = [inner, both].map((p) => registerPostAccumulateGradHook(p, record));
  const forward = (block: (a: Tensor) => Tensor): Tensor => sum(matmul(block(x), both));
  try {
    tidy(() => forward((a) => checkpoint((h) => matmul(matmul(h, inner), both), a)).backward());
  } finally {
    for (const remove of removes) remove();
  }
  const [withCheckpoint, innerGrad] = [both.grad!.toArray(), inner.grad!.toArray()];
  both.grad = inner.grad = null;
  tidy(() => forward((a) => matmul(matmul(a, inner), both)).backward());
  assert.deepEqual(withCheckpoint, both.grad!.toArray(), "the same gradients as without checkpointing");
  assert.deepEqual(seen.get(inner), [innerGrad]);
  assert.equal(seen.get(both)!.length, 2);
  assert.notDeepEqual(seen.get(both)![0], withCheckpoint, "not whole at the outer walk's fire");
  assert.deepEqual(seen.get(both)![1], withCheckpoint);
  assert.equal(ends, 3, "one end callback per queue, run once each");
});
