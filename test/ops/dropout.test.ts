import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { backward } from "../../src/autograd/backward.js";
import { dropout } from "../../src/ops/dropout.js";
import { sum } from "../../src/ops/reduce.js";
import { tensor, zeros } from "../../src/tensor/create.js";
import { kernels } from "../../src/backends/index.js";
import { Generator, rand, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { gradcheck } from "../helpers/gradcheck.js";
import { castTo } from "../helpers/op_fixtures.js";

/** x in [0.5, 1.5): no element is zero, so out ≠ 0 marks exactly the kept elements. */
function nonZeroInput(shape: number[], seed: number, dtype: Tensor["dtype"] = "float32"): Tensor {
  const x = rand(shape, { generator: new Generator(seed), dtype });
  const data = x.toArray().map((v) => v + 0.5);
  return tensor(data, { shape, dtype });
}

describe("dropout", () => {
  test("zeroes a fraction p and scales the kept elements by exactly 1/(1 − p)", () => {
    tidy(() => {
      const n = 100_000,
        p = 0.3;
      const x = nonZeroInput([n], 1);
      const out = dropout(x, p, true, new Generator(2)).toArray();
      const xs = x.toArray();
      const scale = Math.fround(1 / (1 - p));
      let zeros = 0;
      out.forEach((v, i) => {
        if (v === 0) zeros++;
        else assert.equal(v, Math.fround(xs[i]! * scale), `element ${i}`);
      });
      // 6 standard errors of a binomial proportion.
      const bound = 6 * Math.sqrt((p * (1 - p)) / n);
      assert.ok(Math.abs(zeros / n - p) <= bound, `fraction dropped ${zeros / n}, expected ${p} ± ${bound}`);
    });
  });

  test("backward is g·(out ≠ 0)/(1 − p), element-wise, and saves no mask tensor", () => {
    tidy(() => {
      const p = 0.4;
      const x = nonZeroInput([37, 29], 3);
      x.requiresGrad = true;
      const out = dropout(x, p, true, new Generator(4));
      assert.equal(out.node!.saved.length, 0);
      const g = randn([37, 29], { generator: new Generator(5) });
      backward(out, g);
      const scale = Math.fround(1 / (1 - p));
      // Dropped elements are multiplied by 0, as in PyTorch, so a negative g gives -0 there.
      const gs = g.toArray();
      const expected = out.toArray().map((v, i) => Math.fround(gs[i]! * (v !== 0 ? scale : 0)));
      assert.deepEqual(x.grad!.toArray(), expected);
    });
  });

  test("finite differences agree with backward under a fixed generator state", () => {
    tidy(() => {
      const p = 0.25;
      const g = new Generator(6);
      const state = g.getState();
      const run = ([x]: Tensor[]): Tensor[] => {
        g.setState(state);
        return [dropout(x!, p, true, g)];
      };
      const x = randn([8, 13], { generator: new Generator(7) });
      x.requiresGrad = true;
      const gout = randn([8, 13], { generator: new Generator(8) });
      backward(run([x])[0]!, gout);
      gradcheck(run, [randn([8, 13], { generator: new Generator(7) })], [gout], [x.grad], "dropout", { samples: 104 });
    });
  });

  test("bfloat16: computed in float32, rounded once, same mask as float32", () => {
    tidy(() => {
      const p = 0.5;
      const x = nonZeroInput([1000], 9, "bfloat16");
      const out = dropout(x, p, true, new Generator(10));
      assert.equal(out.dtype, "bfloat16");
      const ref = dropout(castTo(x, "float32"), p, true, new Generator(10));
      assert.deepEqual(out.toArray(), castTo(ref, "bfloat16").toArray());
    });
  });

  test("the same state gives the same mask, successive calls different masks", () => {
    tidy(() => {
      const x = nonZeroInput([256], 11);
      const g = new Generator(12);
      const a = dropout(x, 0.5, true, g).toArray(),
        b = dropout(x, 0.5, true, g).toArray();
      const again = dropout(x, 0.5, true, new Generator(12)).toArray();
      assert.deepEqual(again, a);
      assert.ok(
        a.some((v, i) => (v === 0) !== (b[i] === 0)),
        "two calls drew the same mask",
      );
    });
  });

  test("masks do not depend on the OpenMP thread count", () => {
    tidy(() => {
      const x = nonZeroInput([100_003], 13);
      const previous = kernels.getNumThreads();
      const masks = [1, 2, 3].map((threads) => {
        kernels.setNumThreads(threads);
        try {
          return dropout(x, 0.3, true, new Generator(14)).toArray();
        } finally {
          kernels.setNumThreads(previous);
        }
      });
      assert.deepEqual(masks[1], masks[0]);
      assert.deepEqual(masks[2], masks[0]);
    });
  });

  test("evaluation mode and p = 0 return x's values, share its storage, pass the gradient through", () => {
    tidy(() => {
      for (const [p, training] of [
        [0.5, false],
        [0, true],
      ] as const) {
        const x = randn([4, 5], { generator: new Generator(15) });
        x.requiresGrad = true;
        const g = new Generator(16);
        const out = dropout(x, p, training, g);
        assert.equal(out.data, x.data);
        assert.deepEqual(g.getState(), { seed: 16, offset: 0 }, "drew random numbers");
        backward(sum(out));
        assert.deepEqual(x.grad!.toArray(), new Array(20).fill(1));
      }
    });
  });

  test("p = 1 gives zeros and a zero gradient", () => {
    tidy(() => {
      const x = randn([3, 4], { generator: new Generator(17) });
      x.requiresGrad = true;
      const out = dropout(x, 1);
      assert.deepEqual(
        out.toArray(),
        x.toArray().map((v) => v * 0),
      );
      backward(sum(out));
      assert.deepEqual(x.grad!.toArray(), new Array(12).fill(0));
    });
  });

  test("errors name dropout and the value", () => {
    tidy(() => {
      const x = zeros([3]);
      assert.throws(() => dropout(x, -0.1), /dropout: p must be a probability in \[0, 1\], got -0.1/);
      assert.throws(() => dropout(x, 1.5), /dropout: .* got 1.5/);
      assert.throws(() => dropout(x, NaN), /dropout: .* got NaN/);
      assert.throws(() => dropout(zeros([3], { dtype: "int32" })), /dropout: expected a floating tensor, got int32 \[3\]/);
      assert.throws(() => kernels.dropout(0, new Float32Array(3), new Float32Array(2), 0, 0, 0.5), /dropout: 'out' holds 2 elements, expected 3/);
    });
  });
});
