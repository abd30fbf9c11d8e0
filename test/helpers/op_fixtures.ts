import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { backward } from "../../src/autograd/backward.js";
import { add, mul } from "../../src/ops/binary.js";
import { cast } from "../../src/ops/cast.js";
import { copyOf } from "../../src/ops/inplace.js";
import { sum } from "../../src/ops/reduce.js";
import { DTYPES } from "../../src/tensor/dtype.js";
import { kernels } from "../../src/backends/index.js";
import { tidy } from "../../src/tensor/scope.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { BF16, F32, assertClose, type Tolerance } from "./compare.js";
import { loadFixtures, type FixtureCase } from "./fixtures.js";
import { gradcheck } from "./gradcheck.js";

export type OpRunner = (inputs: Record<string, Tensor>, attrs: Record<string, any>) => Tensor | Tensor[];

export interface FixtureOptions {
  f32?: Tolerance;
  bf16?: Tolerance;
  /** Cases to leave out of the finite-difference check, with the reason in a comment at the call. */
  skipGradcheck?: string[];
}

/** A tensor in `dtype` with the fixture's values (float32 references become the case's dtype). */
export function castTo(t: Tensor, dtype: Tensor["dtype"]): Tensor {
  if (t.dtype === dtype) return copyOf(t);
  const out = Tensor.empty(t.shape, dtype);
  kernels.cast(DTYPES[t.dtype].code, t.data, DTYPES[dtype].code, out.data);
  return out;
}

function asList(out: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(out) ? out : [out];
}

/**
 * Registers one test per fixture case of `op`: the forward outputs (values, shapes, dtypes) and
 * the input gradients must match PyTorch, and float32 cases pass a finite-difference check.
 */
export function checkOpFixtures(op: string, run: OpRunner, options: FixtureOptions = {}): void {
  describe(`${op} matches PyTorch`, () => {
    for (const c of loadFixtures(op)) {
      test(c.name, () => checkCase(op, c, run, options));
    }
  });
}

function checkCase(op: string, c: FixtureCase, run: OpRunner, options: FixtureOptions): void {
  tidy(() => {
    const lowPrecision = Object.values(c.inputs).some((t) => t.dtype === "bfloat16" || t.dtype === "float16");
    const tol = lowPrecision ? (options.bf16 ?? BF16) : (options.f32 ?? F32);
    const inputs: Record<string, Tensor> = {};
    for (const n of c.inputNames) {
      const t = copyOf(c.inputs[n]!);
      if (c.grads[n]) t.requiresGrad = true;
      inputs[n] = t;
    }
    const outs = asList(run(inputs, c.attrs));
    assert.equal(outs.length, c.outputs.length, `${op}/${c.name}: output count`);
    outs.forEach((o, i) => {
      assert.equal(o.dtype, c.outDTypes[i], `${op}/${c.name}: dtype of output ${i}`);
      const refs = c.exactOutputs ? [c.outputs[i]!, c.exactOutputs[i]!] : [c.outputs[i]!];
      assertClose(o, refs, tol, `${op}/${c.name}: output ${i}`);
    });
    if (c.gouts.length === 0) return;
    const gouts = outs.map((o, i) => castTo(c.gouts[i]!, o.dtype));
    if (outs.length === 1) {
      backward(outs[0]!, gouts[0]!);
    } else {
      // Outputs of different dtypes (a float32 sum and its bfloat16 norm) add up in float32.
      const terms = outs.map((o, i) => cast(sum(mul(o, gouts[i]!)), "float32"));
      backward(terms.reduce((a, b) => add(a, b)));
    }
    for (const n of Object.keys(c.grads)) {
      const grad = inputs[n]!.grad;
      assert.ok(grad, `${op}/${c.name}: no gradient for input ${n}`);
      assert.equal(grad.dtype, inputs[n]!.dtype, `${op}/${c.name}: dtype of grad ${n}`);
      const refs = c.exactGrads ? [c.grads[n]!, c.exactGrads[n]!] : [c.grads[n]!];
      assertClose(grad, refs, tol, `${op}/${c.name}: grad of ${n}`);
    }
    if (!lowPrecision && c.gradcheck && !options.skipGradcheck?.includes(c.name)) {
      const names = c.inputNames;
      const fresh = names.map((n) => copyOf(c.inputs[n]!));
      gradcheck(
        (xs) => asList(run(Object.fromEntries(names.map((n, i) => [n, xs[i]!])), c.attrs)),
        fresh,
        c.gouts,
        names.map((n) => inputs[n]!.grad),
        `${op}/${c.name}`,
      );
    }
    for (const n of c.inputNames) inputs[n]!.grad?.dispose();
  });
}
