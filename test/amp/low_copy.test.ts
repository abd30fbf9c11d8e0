import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { autocast } from "../../src/amp/autocast.js";
import { Linear } from "../../src/nn/linear.js";
import { cast } from "../../src/ops/cast.js";
import { copyOf } from "../../src/ops/inplace.js";
import { linear } from "../../src/ops/matmul.js";
import { sum } from "../../src/ops/reduce.js";
import { AdamW } from "../../src/optim/adamw.js";
import { SGD } from "../../src/optim/sgd.js";
import { kernels } from "../../src/backends/index.js";
import { randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";

/** How many cast kernels fn runs. */
function countCasts(fn: () => void): number {
  const original = kernels.cast;
  let calls = 0;
  kernels.cast = (...args) => {
    calls++;
    original(...args);
  };
  try {
    fn();
  } finally {
    kernels.cast = original;
  }
  return calls;
}

/** One bf16 autocast training step of fc on x. */
function trainStep(fc: Linear, x: Tensor, step: () => void): void {
  sum(
    cast(
      autocast({ dtype: "bfloat16" }, () => fc.forward(x)),
      "float32",
    ),
  ).backward();
  step();
}

/** fc's output under autocast against the same product of bf16-rounded operands outside it. */
function assertComputesWithCurrentWeight(fc: Linear, x: Tensor): void {
  const y = autocast({ dtype: "bfloat16" }, () => fc.forward(x));
  const reference = linear(cast(x, "bfloat16"), cast(fc.weight, "bfloat16"), fc.bias);
  assert.deepEqual(y.toArray(), reference.toArray());
}

describe("the persistent bf16 weight copy", () => {
  test("AdamW writes the copy in its step: the next scope casts only the input, and computes with the updated weight", () => {
    tidy(() => {
      const fc = new Linear(16, 8),
        x = randn([4, 16]);
      const opt = new AdamW(fc.parameters(), { lr: 0.1 });
      trainStep(fc, x, () => opt.step());
      let y!: Tensor;
      assert.equal(
        countCasts(() => (y = autocast({ dtype: "bfloat16" }, () => fc.forward(x)))),
        1,
      );
      assert.deepEqual(y.toArray(), linear(cast(x, "bfloat16"), cast(fc.weight, "bfloat16"), fc.bias).toArray());
    });
  });

  test("an optimizer that does not write the copy leaves it to be cast again", () => {
    tidy(() => {
      const fc = new Linear(16, 8),
        x = randn([4, 16]);
      const opt = new SGD(fc.parameters(), { lr: 0.1 });
      trainStep(fc, x, () => opt.step());
      assert.equal(
        countCasts(() => autocast({ dtype: "bfloat16" }, () => fc.forward(x))),
        2,
      );
      assertComputesWithCurrentWeight(fc, x);
    });
  });

  test("loadStateDict after an AdamW step makes the written copy stale", () => {
    tidy(() => {
      const fc = new Linear(16, 8),
        other = new Linear(16, 8),
        x = randn([4, 16]);
      const opt = new AdamW(fc.parameters(), { lr: 0.1 });
      trainStep(fc, x, () => opt.step());
      fc.loadStateDict(other.stateDict());
      assertComputesWithCurrentWeight(fc, x);
    });
  });

  test("the weight's gradient comes out of the product in float32, as through a float32 cast", () => {
    tidy(() => {
      const fc = new Linear(16, 8, { bias: false }),
        x = randn([4, 16]);
      sum(
        cast(
          autocast({ dtype: "bfloat16" }, () => fc.forward(x)),
          "float32",
        ),
      ).backward();
      const w = copyOf(cast(cast(fc.weight, "bfloat16"), "float32"));
      w.requiresGrad = true;
      sum(linear(cast(cast(x, "bfloat16"), "float32"), w)).backward();
      assert.equal(fc.weight.grad!.dtype, "float32");
      assert.deepEqual(fc.weight.grad!.toArray(), w.grad!.toArray());
    });
  });
});
