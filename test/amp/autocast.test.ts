import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";

import { autocast, autocastDType } from "../../src/amp/autocast.js";
import { AUTOCAST_POLICY } from "../../src/amp/policy.js";
import { add, mul } from "../../src/ops/binary.js";
import { cast } from "../../src/ops/cast.js";
import { conv2d } from "../../src/ops/conv.js";
import { copyOf } from "../../src/ops/inplace.js";
import { linear, matmul } from "../../src/ops/matmul.js";
import { layerNorm } from "../../src/ops/norm.js";
import { sum } from "../../src/ops/reduce.js";
import { softmax } from "../../src/ops/softmax.js";
import { gelu } from "../../src/ops/unary.js";
import { randn } from "../../src/tensor/random.js";
import { loadSafetensors } from "../../src/tensor/safetensors.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { assertClose, BF16 } from "../helpers/compare.js";
import { countOps } from "../helpers/op_counts.js";
import { fixturesDir } from "../helpers/paths.js";

const { tensors } = loadSafetensors(join(fixturesDir(), "runs", "amp.safetensors"));

function leaf(t: Tensor): Tensor {
  const p = copyOf(t);
  p.requiresGrad = true;
  return p;
}

describe("autocast follows the policy table", () => {
  test("matmul, linear, conv2d and attention run low; softmax, norms and reductions float32; binaries promote", () => {
    tidy(() => {
      const x = randn([4, 8]),
        w = randn([6, 8]),
        img = randn([1, 2, 5, 5]),
        k = randn([3, 2, 3, 3]);
      autocast({ dtype: "bfloat16" }, () => {
        assert.equal(autocastDType(), "bfloat16");
        const y = linear(x, w);
        assert.equal(y.dtype, "bfloat16");
        assert.equal(matmul(x, randn([8, 3])).dtype, "bfloat16");
        assert.equal(conv2d(img, k).dtype, "bfloat16");
        // Not in the table: runs in its input's dtype, no round trip through float32.
        assert.equal(gelu(y).dtype, "bfloat16");
        assert.equal(softmax(y).dtype, "float32");
        assert.equal(layerNorm(y, [6]).dtype, "float32");
        assert.equal(sum(y).dtype, "float32");
        assert.equal(add(randn([4, 6]), y).dtype, "float32");
        assert.equal(mul(y, y).dtype, "bfloat16");
        autocast({ enabled: false }, () => assert.equal(linear(x, w).dtype, "float32"));
      });
      assert.equal(autocastDType(), null);
      assert.equal(linear(x, w).dtype, "float32");
    });
  });

  test("every op of the table names a policy the hook understands", () => {
    for (const [op, policy] of Object.entries(AUTOCAST_POLICY)) assert.ok(["low", "f32", "promote"].includes(policy), op);
  });

  test("a bad dtype is refused, naming it", () => {
    assert.throws(() => autocast({ dtype: "int32" as never }, () => 0), /autocast: dtype must be "bfloat16" or "float16", got int32/);
  });
});

describe("autocast matches torch.autocast on the CPU", () => {
  for (const [name, run] of [
    ["linear", (x: Tensor, w: Tensor, b: Tensor) => linear(x, w, b)],
    ["conv2d", (x: Tensor, w: Tensor, b: Tensor) => conv2d(x, w, b, { padding: 1 })],
  ] as const) {
    test(`${name}: bfloat16 output and float32 master gradients`, () => {
      tidy(() => {
        const [x, w, b] = ["x", "w", "b"].map((k) => leaf(tensors[`autocast/${name}/in/${k}`]!));
        const y = autocast({ dtype: "bfloat16" }, () => run(x!, w!, b!));
        assert.equal(y.dtype, "bfloat16");
        assertClose(cast(y, "float32"), [tensors[`autocast/${name}/out`]!, tensors[`autocast/${name}/exact/out`]!], BF16, `${name} output`);
        sum(mul(cast(y, "float32"), tensors[`autocast/${name}/upstream`]!)).backward();
        for (const [k, p] of [
          ["x", x],
          ["w", w],
          ["b", b],
        ] as const) {
          assert.equal(p!.grad!.dtype, "float32");
          assertClose(p!.grad!, [tensors[`autocast/${name}/grad/${k}`]!, tensors[`autocast/${name}/exact/grad/${k}`]!], BF16, `${name} gradient of ${k}`);
        }
      });
    });
  }
});

describe("the weight cast cache", () => {
  test("a weight used twice in one scope is cast once; its gradient sums both uses in float32", () => {
    tidy(() => {
      const w = leaf(randn([8, 8])),
        x = randn([4, 8]);
      let y!: Tensor;
      const counts = countOps(() => {
        y = autocast({ dtype: "bfloat16" }, () => linear(linear(x, w), w));
      });
      // x is cast once (an activation); linear reads w's persistent bf16 copy, made once with
      // no cast op (src/tensor/low_copy.ts); the inner output is already bfloat16.
      assert.equal(counts.get("cast"), 1);
      assert.equal(counts.get("linear"), 2);
      sum(cast(y, "float32")).backward();
      assert.equal(w.grad!.dtype, "float32");
      // Against float32 through bfloat16-rounded operands, the same two uses.
      const wb = cast(w, "bfloat16"),
        xb = cast(x, "bfloat16");
      const reference = leaf(cast(wb, "float32"));
      sum(linear(cast(linear(cast(xb, "float32"), reference), "bfloat16"), cast(reference, "bfloat16"))).backward();
      assertClose(w.grad!, reference.grad!, BF16, "gradient of the twice-used weight");
    });
  });

  test("each scope entry casts again, so an update between steps is seen", () => {
    tidy(() => {
      const w = leaf(randn([4, 4])),
        x = randn([2, 4]);
      const before = autocast({ dtype: "bfloat16" }, () => linear(x, w)).toArray();
      (w.data as Float32Array).fill(0);
      const after = autocast({ dtype: "bfloat16" }, () => linear(x, w)).toArray();
      assert.ok(before.some((v) => v !== 0));
      assert.deepEqual(after, new Array(after.length).fill(0));
    });
  });

  test("the cached copy survives inner tidy() scopes (one per evaluation batch)", () => {
    tidy(() => {
      const w = leaf(randn([4, 4])),
        x = randn([2, 4]);
      autocast({ dtype: "bfloat16" }, () => {
        const first = tidy(() => linear(x, w).toArray());
        const second = tidy(() => linear(x, w).toArray());
        assert.deepEqual(first, second);
      });
    });
  });

  test("backward called inside a scope runs in the forward's dtypes", () => {
    tidy(() => {
      const w = leaf(randn([4, 4])),
        x = randn([3, 4]);
      autocast({ dtype: "bfloat16" }, () => sum(linear(x, w)).backward());
      assert.equal(w.grad!.dtype, "float32");
    });
  });
});

describe("float16", () => {
  test("linear, matmul and conv2d round like float16 and compute through float32", () => {
    tidy(() => {
      const x = randn([5, 12]),
        w = randn([7, 12]),
        b = randn([7]);
      const y = autocast({ dtype: "float16" }, () => linear(x, w, b));
      assert.equal(y.dtype, "float16");
      const reference = linear(cast(cast(x, "float16"), "float32"), cast(cast(w, "float16"), "float32"), b);
      assert.deepEqual(y.toArray(), cast(reference, "float16").toArray());
      const img = randn([1, 2, 6, 6]),
        k = randn([3, 2, 3, 3]);
      const c = autocast({ dtype: "float16" }, () => conv2d(img, k));
      assert.equal(c.dtype, "float16");
      assertClose(cast(c, "float32"), conv2d(img, k), { rtol: 5e-3, floor: 5e-3 }, "float16 convolution");
      assert.equal(matmul(cast(x, "float16"), cast(randn([12, 2]), "float16")).dtype, "float16");
    });
  });
});
