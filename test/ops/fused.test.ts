// The fused ops against PyTorch (fixtures of the unfused ops), against the unfused ops they
// replace, and in the models that use them.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { autocast } from "../../src/amp/autocast.js";
import { noGrad } from "../../src/autograd/grad_mode.js";
import { GPT } from "../../src/models/gpt.js";
import * as ops from "../../src/ops/index.js";
import { copyOf } from "../../src/ops/inplace.js";
import { manualSeed, randint, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { assertClose } from "../helpers/compare.js";
import { countOps } from "../helpers/op_counts.js";
import { checkOpFixtures } from "../helpers/op_fixtures.js";

// large_rows: a finite difference of a 33,000-term objective is as noisy as the tolerance; its
// gradients still match PyTorch.
checkOpFixtures("linear_gelu", ({ x, w, b }) => ops.linearGelu(x!, w!, b), { skipGradcheck: ["large_rows"] });
checkOpFixtures("add_layer_norm", ({ x, r, w, b }, { normalizedShape, eps, outputDtype }) => ops.addLayerNorm(x!, r!, normalizedShape, w, b, eps, outputDtype));

function leaves(...ts: Tensor[]): Tensor[] {
  return ts.map((t) => {
    const c = copyOf(t);
    c.requiresGrad = true;
    return c;
  });
}

/** Values, then every leaf's gradient, of `run` on fresh leaves of `inputs` with upstream gradients `gouts`. */
function valuesAndGrads(inputs: Tensor[], gouts: Tensor[], run: (xs: Tensor[]) => Tensor[]): number[][] {
  const xs = leaves(...inputs);
  const outs = run(xs);
  const terms = outs.map((o, i) => ops.sum(ops.mul(ops.cast(o, "float32"), gouts[i]!)));
  terms.reduce((a, b) => ops.add(a, b)).backward();
  return [...outs.map((o) => o.toArray()), ...xs.map((x) => x.grad!.toArray())];
}

describe("linearGelu", () => {
  // Catches a GELU pass reading the wrong buffer or a different GELU: the recorded path runs the
  // unary kernel's own GELU on the same stored product, so forward is bit for bit the unfused one.
  test("equals gelu(linear()) bit for bit in forward and within float32 rounding in every gradient", () =>
    tidy(() => {
      manualSeed(3);
      const [x, w, b] = [randn([37, 24]), randn([40, 24]), randn([40])];
      const g = randn([37, 40]);
      const fused = valuesAndGrads([x, w, b], [g], ([xi, wi, bi]) => [ops.linearGelu(xi!, wi!, bi)]);
      const plain = valuesAndGrads([x, w, b], [g], ([xi, wi, bi]) => [ops.gelu(ops.linear(xi!, wi!, bi))]);
      assert.deepEqual(fused[0], plain[0]);
      ["x", "w", "b"].forEach((name, i) => assertClose(fused[i + 1]!, plain[i + 1]!, { rtol: 1e-5, floor: 1e-6 }, `grad of ${name}`));
    }));

  // Catches a forward whose GELU depends on whether a gradient is recorded (activation
  // checkpointing's first pass records none, and must give the bits its recomputation gives).
  test("without a gradient gives the recorded path's bits, float32 and bfloat16", () =>
    tidy(() => {
      manualSeed(4);
      const [x, w, b] = [randn([33, 48]), randn([20, 48]), randn([20])];
      for (const dtype of ["float32", "bfloat16"] as const) {
        const [xd, wd] = [ops.cast(x, dtype), ops.cast(w, dtype)];
        const [xr, wr] = leaves(xd, wd);
        const recorded = ops.linearGelu(xr!, wr!, b).toArray();
        const unrecorded = noGrad(() => ops.linearGelu(xd, wd, b)).toArray();
        assert.deepEqual(unrecorded, recorded, `${dtype}: without a gradient against with one`);
      }
    }));

  test("under bfloat16 autocast reads the weight's bf16 copy and gives float32 weight and bias gradients", () =>
    tidy(() => {
      manualSeed(5);
      const [w, b] = leaves(randn([12, 8]), randn([12]));
      const y = autocast({ dtype: "bfloat16" }, () => ops.linearGelu(randn([5, 8]), w!, b));
      assert.equal(y.dtype, "bfloat16");
      ops.sum(ops.cast(y, "float32")).backward();
      assert.equal(w!.grad!.dtype, "float32");
      assert.equal(b!.grad!.dtype, "float32");
    }));

  test("bad shapes are named", () =>
    tidy(() => {
      assert.throws(() => ops.linearGelu(randn([2, 3]), randn([4, 5])), /^RangeError: linearGelu: input \[2, 3\] does not end in 5 features/);
      assert.throws(() => ops.linearGelu(randn([2, 3]), randn([4, 3]), randn([5])), /linearGelu: bias must be float32 \[4\], got float32 \[5\]/);
    }));
});

describe("addLayerNorm", () => {
  // Catches a sum stored before the residual is added, a norm of the unrounded sum, or the
  // residual's gradient added inside LayerNorm's last product (one FMA, not two roundings): the
  // gpt's blocks use the op, and the pipeline's stages must equal the unfused single process.
  test("equals add then layerNorm bit for bit in values and in every gradient, a bf16 branch included", () =>
    tidy(() => {
      manualSeed(6);
      for (const branch of ["float32", "bfloat16"] as const) {
        const [x, r, w, b] = [randn([9, 3, 64]), ops.cast(randn([9, 3, 64]), branch), ops.add(randn([64]), 1), randn([64])];
        const gouts = [randn([9, 3, 64]), randn([9, 3, 64])];
        const fused = valuesAndGrads([x, r, w, b], gouts, ([xi, ri, wi, bi]) => ops.addLayerNorm(xi!, ri!, [64], wi, bi));
        const plain = valuesAndGrads([x, r, w, b], gouts, ([xi, ri, wi, bi]) => {
          // add takes one dtype outside autocast: the branch is widened as autocast's promote rule does.
          const s = ops.add(xi!, ops.cast(ri!, "float32"));
          return [s, ops.layerNorm(s, [64], wi, bi)];
        });
        assert.deepEqual(fused.slice(0, 2), plain.slice(0, 2), `${branch} branch: sum and norm`);
        ["x", "r", "w", "b"].forEach((name, i) => assert.deepEqual(fused[i + 2], plain[i + 2], `${branch} branch: grad of ${name}`));
      }
    }));

  test("the wider summand sets the sum's dtype whichever side it is on", () =>
    tidy(() => {
      const [s, y] = ops.addLayerNorm(ops.cast(randn([2, 4]), "bfloat16"), randn([2, 4]), [4], null, null, 1e-5, "bfloat16");
      assert.equal(s.dtype, "float32");
      assert.equal(y.dtype, "bfloat16");
    }));

  test("bad arguments are named", () =>
    tidy(() => {
      assert.throws(() => ops.addLayerNorm(randn([2, 4]), randn([4, 2]), [4]), /^RangeError: addLayerNorm: x \[2, 4\] and r \[4, 2\] must have one shape/);
      assert.throws(() => ops.addLayerNorm(randn([2, 4]), randn([2, 4]), [3]), /addLayerNorm: normalizedShape \[3\] must be non-empty/);
      assert.throws(
        () => ops.addLayerNorm(randn([2, 4]), randn([2, 4]), [4], randn([3])),
        /addLayerNorm: weight \[3\] float32 must be float32 of normalizedShape \[4\]/,
      );
    }));
});

describe("the gpt uses the fused ops", () => {
  // Catches a block that still runs its GELU, or its second residual add and LayerNorm, apart.
  test("each block runs one linearGelu and one addLayerNorm, and no separate GELU", () =>
    tidy(() => {
      manualSeed(7);
      const model = new GPT({ vocabSize: 11, context: 8, layers: 2, heads: 2, width: 16 });
      const idx = randint(0, 11, [2, 8]);
      const counts = countOps(() => model.forward(idx));
      assert.equal(counts.get("linearGelu"), 2);
      assert.equal(counts.get("addLayerNorm"), 2);
      // ln1 of each block and the final norm; each block's ln2 is in its addLayerNorm.
      assert.equal(counts.get("layerNorm"), 3);
      assert.equal(counts.get("gelu_erf"), undefined);
    }));
});
