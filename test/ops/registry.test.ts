import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";

import { AUTOCAST_POLICY } from "../../src/amp/policy.js";
import { backward } from "../../src/autograd/backward.js";
import { checkpoint } from "../../src/autograd/checkpoint.js";
import { max, mean, min, sum } from "../../src/ops/reduce.js";
import { OP_NAMES, OPS, type OpName } from "../../src/ops/registry.js";
import { clampMin, powScalar, scaleBy, shiftBy, tanh } from "../../src/ops/unary.js";
import { expand, reshape } from "../../src/ops/view.js";
import { tensor } from "../../src/tensor/create.js";
import { Generator, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { gradcheck } from "../helpers/gradcheck.js";
import { countOps } from "../helpers/op_counts.js";
import { fixturesDir, repoRoot } from "../helpers/paths.js";

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Ops with no PyTorch fixture whose gradient is checked by finite differences in another test file. */
const GRADCHECKED_ELSEWHERE: Partial<Record<OpName, string>> = {
  dropout: "test/ops/dropout.test.ts",
  conv2dMaxPool: "test/ops/nhwc.test.ts",
};

/** Ops with no PyTorch fixture, gradchecked below: each check also proves the op ran. */
const GRADCHECKED_HERE: Partial<Record<OpName, (x: Tensor) => Tensor>> = {
  scale: (x) => scaleBy(x, -2.5),
  shift: (x) => shiftBy(x, 0.75),
  clamp_min: (x) => clampMin(x, -0.3),
  powScalar: (x) => powScalar(shiftBy(x, 3), 2.5),
  reshape: (x) => tanh(reshape(x, [4, 3])),
  expand: (x) => tanh(expand(reshape(x, [1, 12]), [3, 12])),
  checkpoint: (x) => checkpoint((v: Tensor) => tanh(scaleBy(v, 1.5)), x),
};

describe("op table", () => {
  test("each op's rules carry its name, so profiler rows and policy keys name the same op", () => {
    for (const name of OP_NAMES) {
      for (const def of OPS[name].defs) assert.equal(def.name, name);
    }
    assert.equal(new Set(OP_NAMES).size, OP_NAMES.length);
  });

  test("the reductions are four ops, as the profiler shows them", () => {
    const x = tensor([1, 5, 3, 2], { shape: [2, 2] });
    const counts = countOps(() => tidy(() => [sum(x), mean(x), max(x), min(x)]));
    assert.deepEqual([...counts.keys()].sort(), ["max", "mean", "min", "sum"]);
  });

  test("the autocast policy is the table's rules, PyTorch's CPU lists", () => {
    assert.deepEqual(
      { ...AUTOCAST_POLICY },
      {
        add: "promote",
        sub: "promote",
        mul: "promote",
        div: "promote",
        pow: "promote",
        maximum: "promote",
        minimum: "promote",
        sum: "f32",
        mean: "f32",
        softmax: "f32",
        logSoftmax: "f32",
        layerNorm: "f32",
        crossEntropy: "f32",
        matmul: "low",
        linear: "low",
        linearGelu: "low",
        conv2d: "low",
        scaledDotProductAttention: "low",
        causalSelfAttention: "low",
      },
    );
  });

  test("every op has a PyTorch fixture or a gradcheck", () => {
    const uncovered = OP_NAMES.filter((name) => {
      if (existsSync(join(fixturesDir(), "ops", `${snake(name)}.safetensors`))) return false;
      if (GRADCHECKED_HERE[name]) return false;
      const file = GRADCHECKED_ELSEWHERE[name];
      return !(file && /gradcheck\(/.test(readFileSync(join(repoRoot(), file), "utf8")));
    });
    assert.deepEqual(uncovered, []);
  });

  for (const [name, f] of Object.entries(GRADCHECKED_HERE) as [OpName, (x: Tensor) => Tensor][]) {
    test(`${name}: gradcheck`, () => {
      tidy(() => {
        const x = randn([3, 4], { generator: new Generator(11) });
        const leaf = tensor(x.toArray(), { shape: [3, 4], requiresGrad: true });
        let out: Tensor | undefined;
        const counts = countOps(() => {
          out = f(leaf);
        });
        // checkpoint records its node itself (it replays its function in backward), not through apply().
        const ran = counts.has(name) || out!.node?.op.name === name;
        assert.ok(ran, `${name} did not run: ${[...counts.keys()].join(", ")}`);
        const gout = randn([...out!.shape], { generator: new Generator(12) });
        backward(out!, gout);
        gradcheck(([v]) => [f(v!)], [x], [gout], [leaf.grad!], name);
      });
    });
  }
});
