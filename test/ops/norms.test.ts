import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as ops from "../../src/ops/index.js";
import { copyOf } from "../../src/ops/inplace.js";
import { tensor, zeros } from "../../src/tensor/create.js";
import { memory } from "../../src/tensor/memory.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import { kernels } from "../../src/backends/index.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { checkOpFixtures } from "../helpers/op_fixtures.js";

checkOpFixtures("softmax", ({ x }, { axis }) => ops.softmax(x!, axis));
checkOpFixtures("log_softmax", ({ x }, { axis }) => ops.logSoftmax(x!, axis));
// offset_rows: the finite-difference step scales with |x| (5e-3 · 40 = 0.2), twice the rows'
// spread, so the difference quotient is not a derivative there; its gradients still match PyTorch.
checkOpFixtures("layer_norm", ({ x, w, b }, { normalizedShape, eps }) => ops.layerNorm(x!, normalizedShape, w, b, eps), {
  skipGradcheck: ["offset_rows"],
});
checkOpFixtures("cross_entropy", ({ logits, targets }, { ignoreIndex, labelSmoothing, reduction }) =>
  ops.crossEntropy(logits!, targets!, { ignoreIndex, labelSmoothing, reduction }),
);

const ints = (values: number[]): Tensor => tensor(values, { dtype: "int32" });

describe("crossEntropy errors", () => {
  test("an out-of-range target names the op, the row and the value", () =>
    tidy(() => {
      const logits = zeros([3, 4]);
      assert.throws(() => ops.crossEntropy(logits, ints([1, 7, 0])), /^Error: crossEntropy: target 7 of row 1 is outside \[0, 4\)/);
      assert.throws(() => ops.crossEntropy(logits, ints([1, 0, -1])), /crossEntropy: target -1 of row 2/);
      // -100 is only ignored while it is the ignoreIndex.
      assert.throws(() => ops.crossEntropy(logits, ints([-100, 0, 1]), { ignoreIndex: 5 }), /crossEntropy: target -100 of row 0/);
    }));

  test("targets are checked before any output is written", () => {
    const losses = new Float32Array([7, 7, 7]);
    const grad = new Float32Array(12).fill(7);
    const bad = Int32Array.from([0, 1, 4]);
    assert.throws(() => kernels.crossEntropy(0, new Float32Array(12), bad, losses, grad, 3, 4, -100, 0), /crossEntropy: target 4 of row 2/);
    assert.deepEqual([...losses, ...grad], new Array(15).fill(7));
  });

  test("targets must be int32 of the logits' leading shape", () =>
    tidy(() => {
      assert.throws(() => ops.crossEntropy(zeros([3, 4]), tensor([1, 2, 0])), /crossEntropy: targets \[3\] must be int32 class indices, got float32/);
      assert.throws(() => ops.crossEntropy(zeros([3, 4]), ints([1, 2])), /crossEntropy: logits \[3, 4\] need targets of shape \[3\].*got targets \[2\]/);
      const rank3 = /crossEntropy: logits \[2, 3, 4\] need targets of shape \[2, 3\]/;
      assert.throws(() => ops.crossEntropy(zeros([2, 3, 4]), zeros([2, 4], { dtype: "int32" })), rank3);
    }));

  test("options are checked", () =>
    tidy(() => {
      const t = ints([0, 1]);
      assert.throws(() => ops.crossEntropy(zeros([2, 3]), t, { labelSmoothing: 1.5 }), /crossEntropy: labelSmoothing must be in \[0, 1\], got 1.5/);
      assert.throws(() => ops.crossEntropy(zeros([2, 3]), t, { reduction: "avg" as "mean" }), /crossEntropy: reduction must be .*"avg"/);
      assert.throws(() => ops.crossEntropy(zeros([2, 3]), t, { ignoreIndex: 0.5 }), /crossEntropy: ignoreIndex must be an integer, got 0.5/);
    }));

  test("a rejected call and a finished backward leave no memory behind", () => {
    const logits = zeros([3, 4]);
    logits.requiresGrad = true;
    const [good, bad] = [ints([1, 2, 3]), ints([1, 9, 0])];
    const before = memory.report().total;
    assert.throws(() => ops.crossEntropy(logits, bad), /target 9 of row 1/);
    assert.equal(memory.report().total, before);
    tidy(() => ops.crossEntropy(logits, good, { labelSmoothing: 0.1 }).backward());
    logits.grad!.dispose();
    assert.equal(memory.report().total, before);
    for (const t of [logits, good, bad]) t.dispose();
  });
});

describe("layerNorm and softmax errors", () => {
  test("normalizedShape must match the trailing axes", () =>
    tidy(() => {
      const trailing = /layerNorm: normalizedShape \[3\] must be non-empty and match the trailing axes of input \[2, 3, 4\]/;
      assert.throws(() => ops.layerNorm(zeros([2, 3, 4]), [3]), trailing);
      assert.throws(() => ops.layerNorm(zeros([4]), [2, 4]), /layerNorm: normalizedShape \[2, 4\]/);
      assert.throws(() => ops.layerNorm(zeros([4]), []), /layerNorm: normalizedShape \[\]/);
    }));

  test("weight and bias must be float32 of normalizedShape", () =>
    tidy(() => {
      assert.throws(() => ops.layerNorm(zeros([2, 4]), [4], zeros([3])), /layerNorm: weight \[3\] float32 must be float32 of normalizedShape \[4\]/);
      const bf16Bias = zeros([4], { dtype: "bfloat16" });
      assert.throws(() => ops.layerNorm(zeros([2, 4]), [4], zeros([4]), bf16Bias), /layerNorm: bias \[4\] bfloat16 must be float32/);
      assert.throws(() => ops.layerNorm(zeros([2, 4]), [4], null, null, -1), /layerNorm: eps must be a finite number >= 0, got -1/);
    }));

  test("integer inputs and bad axes are rejected", () =>
    tidy(() => {
      assert.throws(() => ops.softmax(zeros([2, 3], { dtype: "int32" })), /softmax: expected a floating tensor, got int32 \[2, 3\]/);
      assert.throws(() => ops.logSoftmax(zeros([2, 3]), 2), /logSoftmax: axis 2 is out of range for a tensor of rank 2/);
    }));

  test("the kernels check extents before reading memory", () => {
    const x = new Float32Array(6);
    assert.throws(() => kernels.softmax(0, x, x, 2, 3, 2, false), /softmax: 'x' holds 6 elements, expected 12/);
    assert.throws(() => kernels.softmax(0, x, x, 2 ** 40, 2 ** 40, 1, false), /softmax: extents \[1099511627776, 1099511627776, 1\]/);
    const [mean, rstd] = [new Float32Array(4), new Float32Array(2)];
    assert.throws(() => kernels.layerNorm(0, x, null, null, x, mean, rstd, 2, 3, -1, 0), /layerNorm: eps must be/);
    assert.throws(() => kernels.layerNorm(0, x, new Float32Array(2), null, x, mean, rstd, 2, 3, 0, 0), /layerNorm: 'weight' holds 2 elements, expected 3/);
  });
});

describe("layerNorm with a bfloat16 output", () => {
  test("equals layerNorm then a cast, in values and in every gradient, bit for bit", () =>
    tidy(() => {
      const x = ops.add(ops.mul(randn([37, 48]), tensor(3)), tensor(0.5));
      const g = ops.cast(randn([37, 48]), "bfloat16");
      const run = (fused: boolean) => {
        const [xi, w, b] = [copyOf(x), ops.add(randn([48]), tensor(1)), randn([48])];
        for (const t of [xi, w, b]) t.requiresGrad = true;
        const y = fused ? ops.layerNorm(xi, [48], w, b, 1e-5, "bfloat16") : ops.cast(ops.layerNorm(xi, [48], w, b), "bfloat16");
        assert.equal(y.dtype, "bfloat16");
        ops.sum(ops.mul(y, g)).backward();
        return [y, xi.grad!, w.grad!, b.grad!].map((t) => Array.from(t.data));
      };
      manualSeed(3);
      const fused = run(true);
      manualSeed(3);
      const composed = run(false);
      ["output", "input gradient", "weight gradient", "bias gradient"].forEach((name, i) => assert.deepEqual(fused[i], composed[i], name));
    }));

  test("a non-floating outputDtype is refused", () =>
    tidy(() =>
      assert.throws(() => ops.layerNorm(randn([2, 4]), [4], null, null, 1e-5, "int32"), /layerNorm: outputDtype must be a floating dtype, got int32/),
    ));
});

/** Runs fn with 1 and then 2 OpenMP threads and returns both results as arrays. */
function withThreads(fn: () => number[][]): [number[][], number[][]] {
  const before = kernels.getNumThreads();
  try {
    kernels.setNumThreads(1);
    const one = tidy(fn);
    kernels.setNumThreads(2);
    return [one, tidy(fn)];
  } finally {
    kernels.setNumThreads(before);
  }
}

/** A leaf's gradient as an array; the gradient is disposed (tidy keeps gradients). */
function gradOf(t: Tensor): number[] {
  const values = t.grad!.toArray();
  t.grad!.dispose();
  return values;
}

/** A deterministic pseudo-random tensor (no generator needed). */
function wave(shape: number[], scale = 1) {
  const size = shape.reduce((a, b) => a * b, 1);
  return tensor(
    Float32Array.from({ length: size }, (_, i) => scale * Math.sin(i * 0.7 + Math.cos(i * 0.013))),
    { shape },
  );
}

describe("results do not depend on the thread count", () => {
  test("softmax and logSoftmax, last and middle axes, forward and backward", () => {
    const run = (): number[][] =>
      [ops.softmax, ops.logSoftmax].flatMap((fn) =>
        [
          [[6, 3000], -1],
          [[4, 40, 300], 1],
        ].flatMap(([shape, axis]) => {
          const x = wave(shape as number[], 4);
          x.requiresGrad = true;
          const y = fn(x, axis as number);
          y.backward(wave(shape as number[]));
          return [y.toArray(), gradOf(x)];
        }),
      );
    const [one, two] = withThreads(run);
    assert.deepEqual(two, one);
  });

  test("crossEntropy over many rows", () => {
    const run = (): number[][] => {
      const logits = wave([64, 500], 3);
      logits.requiresGrad = true;
      const targets = tensor(
        Int32Array.from({ length: 64 }, (_, i) => (i % 5 === 0 ? -100 : (i * 37) % 500)),
        { dtype: "int32" },
      );
      const loss = ops.crossEntropy(logits, targets, { labelSmoothing: 0.1, reduction: "none" });
      loss.backward(wave([64]));
      return [loss.toArray(), gradOf(logits)];
    };
    const [one, two] = withThreads(run);
    assert.deepEqual(two, one);
  });

  test("layerNorm: dx is identical, dweight and dbias partial sums agree to rounding", () => {
    const run = (): number[][] => {
      const x = wave([64, 600], 2);
      const w = wave([600]),
        b = wave([600], 0.5);
      for (const t of [x, w, b]) t.requiresGrad = true;
      const y = ops.layerNorm(x, [600], w, b);
      y.backward(wave([64, 600]));
      return [y.toArray(), gradOf(x), gradOf(w), gradOf(b)];
    };
    const [one, two] = withThreads(run);
    assert.deepEqual(two.slice(0, 2), one.slice(0, 2));
    // Two chunks add their double partials in another order than one chunk: equal to f32 rounding.
    for (const k of [2, 3]) {
      two[k]!.forEach((v, i) => assert.ok(Math.abs(v - one[k]![i]!) <= 1e-6 * (1 + Math.abs(one[k]![i]!)), `param grad ${k} element ${i}`));
    }
  });
});
