// The multi-tensor optimizer steps: one native call over every parameter gives the same bits as
// the per-parameter kernels (Adam) or the float64 reference (Lion), whatever the thread count and
// parameter sizes, and the optimizers pass each parameter its own group's hyperparameters and step.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { lambStepMulti, lionStepMulti } from "../../src/backends/js/optimizer_steps.js";
import { kernels } from "../../src/backends/index.js";
import { loadNative } from "../../src/backends/native/addon.js";
import { uniformValues } from "../backends/js/kernel_check.js";
import { AdamW, Lion, Muon } from "../../src/optim/index.js";
import { adamStepInPlace } from "../../src/ops/optimizer_kernels.js";
import { copyOf } from "../../src/ops/inplace.js";
import { zeros } from "../../src/tensor/create.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";

const native = loadNative();

// Below, at and past the element-wise grain (32768, where a parameter is cut over the threads),
// and one that leaves a ragged last vector.
const SIZES = [5, 1000, 32768, 40001, 300007];

const arrays = (seed: number, low: number, high: number): Float32Array[] => SIZES.map((n, i) => Float32Array.from(uniformValues(seed * 10 + i, n, low, high)));
const copies = (xs: Float32Array[]): Float32Array[] => xs.map((x) => x.slice());

function bits(xs: ArrayBufferView[]): string[] {
  return xs.map((x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("base64"));
}

// The vectorised loop and its scalar remainder must round alike: in one loop, GCC's AVX2 vector
// version fused AdamW's decay into the update's sum and moved a quarter of the elements by one
// ulp against the remainder (and the version-1 checkpoint fixture). Each element of a long
// parameter, run again alone (the remainder only), must keep its bits.
test("adamStep: an element's bits do not depend on where it falls (AdamW's decay and Adam's L2 term)", () => {
  const n = 1003;
  for (const [name, hyper] of [
    ["AdamW", Float64Array.of(1e-2, 0.9, 0.999, 1e-8, 0.5, 3, 1)],
    ["Adam with L2", Float64Array.of(1e-2, 0.9, 0.999, 1e-8, 0.5, 3, 0)],
  ] as const) {
    const [p, g, m, v] = [uniformValues(11, n, -2, 2), uniformValues(12, n, -1, 1), uniformValues(13, n, -0.1, 0.1), uniformValues(14, n, 0, 0.01)].map((x) =>
      Float32Array.from(x),
    );
    const whole = { p: p!.slice(), m: m!.slice(), v: v!.slice() };
    native.adamStep(whole.p, g!, whole.m, whole.v, null, hyper);
    const moved: number[] = [];
    for (let i = 0; i < n; i++) {
      const one = { p: p!.subarray(i, i + 1).slice(), m: m!.subarray(i, i + 1).slice(), v: v!.subarray(i, i + 1).slice() };
      native.adamStep(one.p, g!.subarray(i, i + 1).slice(), one.m, one.v, null, hyper);
      if (!Object.is(one.p[0], whole.p[i]) || !Object.is(one.m[0], whole.m[i]) || !Object.is(one.v[0], whole.v[i])) moved.push(i);
    }
    assert.deepEqual(moved, [], `${name}: elements whose bits change with their position`);
  }
});

describe("adamStepMulti", () => {
  for (const threads of [1, 2, 3]) {
    test(`${threads} thread(s): the same bits as one adamStep per parameter, bf16 copies included, each parameter with its own hyper row`, () => {
      const before = native.getNumThreads();
      native.setNumThreads(threads);
      try {
        const [p, g, m, v] = [arrays(1, -2, 2), arrays(2, -1, 1), arrays(3, -0.1, 0.1), arrays(4, 0, 0.01)];
        // Rows differ in every field, so a row read for the wrong parameter changes the result.
        const hyper = Float64Array.from(SIZES.flatMap((_, k) => [1e-3 * (k + 1), 0.9 - 0.01 * k, 0.999 - 0.001 * k, 1e-8, 0.01 * k, k + 1, k % 2]));
        const single = { p: copies(p), m: copies(m), v: copies(v), low: SIZES.map((n) => new Uint16Array(n)) };
        SIZES.forEach((_, k) => native.adamStep(single.p[k]!, g[k]!, single.m[k]!, single.v[k]!, single.low[k]!, hyper.subarray(7 * k, 7 * k + 7)));
        const multi = { p: copies(p), m: copies(m), v: copies(v), low: SIZES.map((n, k) => (k === 1 ? null : new Uint16Array(n))) };
        native.adamStepMulti(multi.p, g, multi.m, multi.v, multi.low, hyper);
        assert.deepEqual(bits(multi.p), bits(single.p), "parameters");
        assert.deepEqual(bits(multi.m), bits(single.m), "first moments");
        assert.deepEqual(bits(multi.v), bits(single.v), "second moments");
        assert.deepEqual(bits(multi.low.filter((x) => x !== null)), bits(single.low.filter((_, k) => k !== 1)), "bf16 copies");
      } finally {
        native.setNumThreads(before);
      }
    });
  }

  test("every list is checked before anything is written", () => {
    const p = [new Float32Array(4).fill(1), new Float32Array(3).fill(1)];
    const g = [new Float32Array(4), new Float32Array(2)];
    const hyper = Float64Array.from([1e-3, 0.9, 0.999, 1e-8, 0, 1, 1, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 1]);
    const state = () => [new Float32Array(4), new Float32Array(3)];
    assert.throws(() => native.adamStepMulti(p, g, state(), state(), [null, null], hyper), /^Error: adamStepMulti: 'grads\[1\]' holds 2 elements, expected 3/);
    assert.throws(() => native.adamStepMulti(p, [g[0]!], state(), state(), [null, null], hyper), /adamStepMulti: grads holds 1 entries, params 2/);
    assert.throws(
      () => native.adamStepMulti(p, g, state(), state(), [null, null], hyper.subarray(0, 7)),
      /adamStepMulti: 'hyper' holds 7 entries, expected at least 14/,
    );
    assert.deepEqual([...p[0]!, ...p[1]!], [1, 1, 1, 1, 1, 1, 1]);
  });
});

describe("lionStepMulti", () => {
  test("native gives the float64 reference's bits (the js kernel, the former TypeScript step) on every parameter", () => {
    const [p, g, m] = [arrays(5, -2, 2), arrays(6, -1, 1), arrays(7, -0.1, 0.1)];
    // A zero gradient on a zero momentum: sign(0) = 0 moves nothing but the decay.
    g[0]![0] = 0;
    m[0]![0] = 0;
    const hyper = Float64Array.from(SIZES.flatMap((_, k) => [1e-4 * (k + 1), 0.9 - 0.01 * k, 0.99 - 0.001 * k, 0.1 * k]));
    const js = { p: copies(p), m: copies(m) };
    lionStepMulti(js.p, g, js.m, hyper);
    const nat = { p: copies(p), m: copies(m) };
    native.lionStepMulti(nat.p, g, nat.m, hyper);
    assert.deepEqual(bits(nat.p), bits(js.p), "parameters");
    assert.deepEqual(bits(nat.m), bits(js.m), "momenta");
  });
});

describe("lambStepMulti", () => {
  for (const threads of [1, 3]) {
    // Catches a trust ratio from a piece's partial norms instead of the whole parameter's, a
    // direction recomputed differently in the second pass, or a hyper row of the wrong parameter.
    test(`${threads} thread(s): native equals the float64 reference (the js kernel, the former TypeScript step) within 1e-6 over 3 steps`, () => {
      const before = native.getNumThreads();
      native.setNumThreads(threads);
      try {
        const [p, m, v] = [arrays(8, -2, 2), arrays(9, -0.1, 0.1), arrays(10, 0, 0.01)];
        // An all-zero parameter: ‖w‖ = 0, so its trust ratio is 1.
        p[0]!.fill(0);
        const js = { p: copies(p), m: copies(m), v: copies(v) };
        const nat = { p: copies(p), m: copies(m), v: copies(v) };
        for (let step = 1; step <= 3; step++) {
          const g = arrays(10 + step, -1, 1);
          const hyper = Float64Array.from(SIZES.flatMap((_, k) => [1e-3 * (k + 1), 0.9 - 0.01 * k, 0.999 - 0.001 * k, 1e-6, 0.01 * k, step]));
          lambStepMulti(js.p, g, js.m, js.v, hyper);
          native.lambStepMulti(nat.p, g, nat.m, nat.v, hyper);
        }
        for (const [name, a, b] of [
          ["parameter", nat.p, js.p],
          ["first moment", nat.m, js.m],
          ["second moment", nat.v, js.v],
        ] as const) {
          a.forEach((x, k) => {
            const y = b[k]!;
            let worst = 0;
            for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / Math.max(Math.abs(y[i]!), 1e-3));
            assert.ok(worst <= 1e-6, `${name} ${k}: relative difference ${worst}`);
          });
        }
        assert.ok(
          nat.p[0]!.some((x) => x !== 0),
          "the zero parameter moved by lr·u (trust ratio 1)",
        );
      } finally {
        native.setNumThreads(before);
      }
    });
  }

  test("every list is checked before anything is written", () => {
    const p = [new Float32Array(4).fill(1), new Float32Array(3).fill(1)];
    const state = () => [new Float32Array(4), new Float32Array(3)];
    const hyper = Float64Array.from([1e-3, 0.9, 0.999, 1e-6, 0, 1, 1e-3, 0.9, 0.999, 1e-6, 0, 1]);
    for (const impl of [native.lambStepMulti, lambStepMulti]) {
      assert.throws(
        () => impl(p, [new Float32Array(4), new Float32Array(2)], state(), state(), hyper),
        /lambStepMulti: 'grads\[1\]' holds 2 elements, expected 3/,
      );
      assert.throws(() => impl(p, state(), state(), [new Float32Array(4)], hyper), /lambStepMulti: expAvgSqs holds 1 entries, params 2/);
      assert.throws(() => impl(p, state(), state(), state(), hyper.subarray(0, 6)), /lambStepMulti: 'hyper' holds 6 entries, expected at least 12/);
    }
    assert.deepEqual([...p[0]!, ...p[1]!], [1, 1, 1, 1, 1, 1, 1]);
  });
});

describe("the optimizers step every parameter in one call", () => {
  // Catches a hyper row taken from the wrong group or a step count shared between parameters.
  test("AdamW with two groups of different lr and weight decay, a parameter joining late: the per-parameter kernel's bits", () =>
    tidy(() => {
      manualSeed(11);
      const params = [randn([300, 200]), randn([7]), randn([50, 40])].map((t) => {
        const p = copyOf(t);
        p.requiresGrad = true;
        return p;
      });
      const reference = params.map((p) => copyOf(p));
      const opt = new AdamW([{ params: [params[0]!, params[1]!] }, { params: [params[2]!], lr: 3e-2, weightDecay: 0.5 }], { lr: 1e-2, weightDecay: 0.1 });
      const moments = reference.map((r) => [zeros(r.shape), zeros(r.shape)] as [Tensor, Tensor]);
      const steps = [0, 0, 0];
      for (let step = 0; step < 3; step++) {
        params.forEach((p, i) => {
          // The last parameter gets no gradient on the first step: its step count lags.
          if (step === 0 && i === 2) return;
          p.grad = randn(p.shape);
          p.grad.kept = true;
        });
        opt.step();
        params.forEach((p, i) => {
          if (!p.grad) return;
          steps[i]!++;
          const [lr, wd] = i === 2 ? [3e-2, 0.5] : [1e-2, 0.1];
          adamStepInPlace(reference[i]!, p.grad, moments[i]![0], moments[i]![1], null, Float64Array.of(lr, 0.9, 0.999, 1e-8, wd, steps[i]!, 1));
        });
        opt.zeroGrad();
        params.forEach((p, i) => assert.deepEqual(p.toArray(), reference[i]!.toArray(), `step ${step}, parameter ${i}`));
      }
    }));

  test("Lion steps every parameter with its group's hyperparameters", () =>
    tidy(() => {
      manualSeed(12);
      const [a, b] = [randn([40]), randn([3, 3])].map((t) => {
        const p = copyOf(t);
        p.requiresGrad = true;
        return p;
      });
      const [ra, rb] = [copyOf(a!).toHost() as Float32Array, copyOf(b!).toHost() as Float32Array];
      const opt = new Lion([{ params: [a!] }, { params: [b!], lr: 1e-2, weightDecay: 0.3 }], { lr: 1e-3 });
      a!.grad = randn([40]);
      b!.grad = randn([3, 3]);
      const [ga, gb] = [a!.grad.toHost() as Float32Array, b!.grad.toHost() as Float32Array];
      opt.step();
      kernels.lionStepMulti([ra, rb], [ga, gb], [new Float32Array(40), new Float32Array(9)], Float64Array.of(1e-3, 0.9, 0.99, 0, 1e-2, 0.9, 0.99, 0.3));
      assert.deepEqual(a!.toArray(), Array.from(ra));
      assert.deepEqual(b!.toArray(), Array.from(rb));
    }));

  // Catches an AdamW group stepped with Muon's lr or weight decay, or not decoupled.
  test("Muon's AdamW groups (one multi-tensor call) give AdamW's bits", () =>
    tidy(() => {
      manualSeed(12);
      const params = [randn([20, 30]), randn([30]), randn([8, 4])].map((t) => {
        const p = copyOf(t);
        p.requiresGrad = true;
        return p;
      });
      const twins = params.slice(1).map((p) => {
        const q = copyOf(p);
        q.requiresGrad = true;
        return q;
      });
      const hyper = { lr: 3e-3, betas: [0.8, 0.95] as [number, number], eps: 1e-9, weightDecay: 0.2 };
      const muon = new Muon([{ params: [params[0]!] }, { params: params.slice(1), useMuon: false, ...hyper }], { lr: 0.05, weightDecay: 0.5 });
      const adamw = new AdamW(twins, hyper);
      for (let step = 0; step < 3; step++) {
        for (const p of params) {
          p.grad = randn(p.shape);
          p.grad.kept = true;
        }
        twins.forEach((q, i) => {
          q.grad = copyOf(params[i + 1]!.grad!);
          q.grad.kept = true;
        });
        muon.step();
        adamw.step();
        twins.forEach((q, i) => assert.deepEqual(params[i + 1]!.toArray(), q.toArray(), `step ${step}, parameter ${i + 1}`));
      }
    }));
});
