import assert from "node:assert/strict";
import { test } from "node:test";

import { Sequential } from "../../src/nn/containers.js";
import { Conv2d } from "../../src/nn/conv.js";
import { MaxPool2d, ReLU } from "../../src/nn/layers.js";
import { sum } from "../../src/ops/reduce.js";
import { mul } from "../../src/ops/binary.js";
import { randn, manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";

test("ReLU after max pooling gives bitwise the values and gradients of ReLU before it", () => {
  manualSeed(4);
  const conv = new Conv2d(3, 8, 3);
  const x = randn([4, 3, 12, 11]); // odd width: the last column is outside every window
  x.requiresGrad = true;
  const g = randn([4, 8, 5, 4]);
  const run = (order: "relu-pool" | "pool-relu") =>
    tidy(() => {
      const net = order === "relu-pool" ? new Sequential(conv, new ReLU(), new MaxPool2d(2)) : new Sequential(conv, new MaxPool2d(2), new ReLU());
      const y = net.forward(x);
      sum(mul(y, g)).backward();
      const result = { y: y.toArray(), dx: x.grad!.toArray(), dw: conv.weight.grad!.toArray(), db: conv.bias!.grad!.toArray() };
      for (const t of [x, conv.weight, conv.bias!]) {
        t.grad!.dispose();
        t.grad = null;
      }
      return result;
    });
  const a = run("relu-pool"),
    b = run("pool-relu");
  assert.ok(a.y.some((v) => v === 0) && a.y.some((v) => v > 0), "some windows are all ≤ 0, some not");
  assert.deepEqual(b, a);
});
