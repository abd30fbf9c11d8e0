import assert from "node:assert/strict";
import { test } from "node:test";

import { backward } from "../../src/autograd/backward.js";
import { relu, tanh } from "../../src/ops/unary.js";
import { tensor, zeros } from "../../src/tensor/create.js";
import { Generator, randn } from "../../src/tensor/random.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { gradcheck } from "../helpers/gradcheck.js";

// The finite-difference check every op fixture runs is itself tested: it counts the elements it
// compared, refuses to pass when kinks leave it little to compare, and catches a wrong gradient.

function analytic(f: (x: Tensor) => Tensor, x: Tensor, gout: Tensor): Tensor {
  const input = tensor(x.toArray(), { shape: [...x.shape], requiresGrad: true });
  backward(f(input), gout);
  return input.grad!;
}

test("gradcheck compares a spread of elements and reports how many", () => {
  const x = randn([10, 10], { generator: new Generator(3) });
  const gout = randn([10, 10], { generator: new Generator(4) });
  const count = gradcheck(([v]) => [tanh(v!)], [x], [gout], [analytic(tanh, x, gout)], "tanh");
  assert.deepEqual(count, { checked: 13, kinks: 0 }, "every 8th of 100 elements (12 samples asked)");
  assert.deepEqual(
    gradcheck(([v]) => [tanh(v!)], [x], [gout], [analytic(tanh, x, gout)], "tanh", { samples: 100 }),
    { checked: 100, kinks: 0 },
  );
});

test("gradcheck fails when kinks leave most sampled elements unchecked, and on a wrong gradient", () => {
  const x = zeros([4, 5]); // relu's kink at every element
  const gout = randn([4, 5], { generator: new Generator(5) });
  assert.throws(
    () => gradcheck(([v]) => [relu(v!)], [x], [gout], [analytic(relu, x, gout)], "relu at 0"),
    /relu at 0: gradcheck of input 0 checked only 0 of 20 sampled elements \(20 kinks\)/,
  );
  const y = randn([4, 5], { generator: new Generator(6) });
  const wrong = analytic(tanh, y, gout)
    .toArray()
    .map((g, i) => (i === 10 ? g * 1.1 + 0.01 : g));
  assert.throws(
    () => gradcheck(([v]) => [tanh(v!)], [y], [gout], [tensor(wrong, { shape: [4, 5] })], "tanh", { samples: 20 }),
    /tanh: gradcheck of input 0 element 10/,
  );
});
