// apply() casts every op's inputs by the op table's rule: no op calls into autocast itself. A
// probe op named after each table entry (its forward only records the dtypes it was given)
// shows the rule is applied for every entry, and every "low" op's real function gives a
// bfloat16 result under bfloat16 autocast.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { autocast } from "../../src/amp/autocast.js";
import { apply1, type OpDef } from "../../src/autograd/op.js";
import { causalSelfAttention, scaledDotProductAttention } from "../../src/ops/attention.js";
import { cast } from "../../src/ops/cast.js";
import { conv2d } from "../../src/ops/conv.js";
import { linearGelu } from "../../src/ops/linear_gelu.js";
import { linear, matmul } from "../../src/ops/matmul.js";
import { autocastInputCount, OP_NAMES, OPS, type TableOpName } from "../../src/ops/registry.js";
import { randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import type { DType } from "../../src/tensor/dtype.js";

/** The dtypes the forward rule of an op named `name` sees for `inputs` (applied through apply()). */
function seenDtypes(name: TableOpName, inputs: Tensor[]): DType[] {
  let seen: DType[] = [];
  const probe: OpDef<void> = {
    name,
    forward: (given) => {
      seen = given.map((t) => t.dtype);
      return { out: given[0]!.viewAs(given[0]!.shape) };
    },
  };
  apply1(probe, inputs, undefined);
  return seen;
}

describe("apply() autocasts by the op table", () => {
  test("every entry's rule reaches its forward rule: low casts its leading inputs to the scope's dtype, f32 to float32, promote to the widest", () => {
    tidy(() => {
      for (const name of OP_NAMES) {
        const rule = OPS[name].autocast;
        const count = autocastInputCount(name, 3);
        for (const low of ["bfloat16", "float16"] as const) {
          const f32 = [randn([2, 2]), randn([2, 2]), randn([2, 2])];
          const mixed = [cast(randn([2, 2]), low), randn([2, 2]), randn([2, 2])];
          const [fromF32, fromMixed] = autocast({ dtype: low }, () => [seenDtypes(name, f32), seenDtypes(name, mixed)]);
          const expected = (inputs: Tensor[]): DType[] =>
            inputs.map((t, i) => {
              if (rule === undefined || i >= count) return t.dtype;
              return rule === "low" ? low : "float32";
            });
          assert.deepEqual(fromF32, expected(f32), `${name} (${rule ?? "no rule"}) from float32 under ${low}`);
          assert.deepEqual(fromMixed, expected(mixed), `${name} (${rule ?? "no rule"}) from ${low} and float32 under ${low}`);
          // Outside a scope nothing is cast.
          assert.deepEqual(seenDtypes(name, mixed), [low, "float32", "float32"], `${name} outside autocast`);
        }
      }
    });
  });

  test("the leading-input counts keep a bias and a norm's affine parameters float32", () => {
    assert.equal(autocastInputCount("linear", 3), 2);
    assert.equal(autocastInputCount("conv2d", 3), 2);
    assert.equal(autocastInputCount("layerNorm", 3), 1);
    assert.equal(autocastInputCount("matmul", 2), 2);
  });

  test("every op whose rule is low gives a bfloat16 result from float32 inputs under bfloat16 autocast", () => {
    const calls: Partial<Record<TableOpName, () => Tensor>> = {
      matmul: () => matmul(randn([3, 4]), randn([4, 5])),
      linear: () => linear(randn([3, 4]), randn([5, 4]), randn([5])),
      linearGelu: () => linearGelu(randn([3, 4]), randn([5, 4]), randn([5])),
      conv2d: () => conv2d(randn([1, 2, 5, 5]), randn([3, 2, 3, 3]), randn([3])),
      scaledDotProductAttention: () => scaledDotProductAttention(randn([1, 2, 4, 8]), randn([1, 2, 4, 8]), randn([1, 2, 4, 8])),
      causalSelfAttention: () => causalSelfAttention(randn([1, 4, 24]), 2),
    };
    const lowOps = OP_NAMES.filter((name) => OPS[name].autocast === "low");
    assert.deepEqual(Object.keys(calls).sort(), [...lowOps].sort(), "a sample call for every low op");
    tidy(() => {
      for (const name of lowOps) {
        assert.equal(calls[name]!().dtype, "float32", `${name} outside autocast`);
        assert.equal(
          autocast({ dtype: "bfloat16" }, () => calls[name]!().dtype),
          "bfloat16",
          name,
        );
      }
    });
  });
});
