import assert from "node:assert/strict";
import { test } from "node:test";

import { cast } from "../../src/ops/cast.js";
import * as ops from "../../src/ops/index.js";
import { sumInFloat32 } from "../../src/ops/reduce.js";
import { randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import { checkOpFixtures } from "../helpers/op_fixtures.js";

for (const name of ["sum", "mean", "max", "min"] as const) {
  const op = { sum: ops.sum, mean: ops.mean, max: ops.max, min: ops.min }[name];
  checkOpFixtures(name, ({ x }, { axes, keepDim }) => op(x!, axes ?? undefined, keepDim));
}

test("sumInFloat32 sums bfloat16 into float32 without rounding the sums to bfloat16", () => {
  tidy(() => {
    // 300 rows: over 256, the split-rows path of a bias gradient; 40 columns: the column path.
    for (const [shape, axis] of [
      [[300, 40], 0],
      [[7, 300], 1],
      [[5, 6, 3], 1],
    ] as const) {
      const x = cast(randn([...shape]), "bfloat16");
      const got = sumInFloat32(x, axis);
      assert.equal(got.dtype, "float32");
      assert.deepEqual(got.toArray(), ops.sum(cast(x, "float32"), axis).toArray());
      assert.notDeepEqual(got.toArray(), cast(ops.sum(x, axis), "float32").toArray());
    }
  });
});
