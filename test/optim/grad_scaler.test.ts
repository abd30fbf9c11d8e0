import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";

import { GradScaler } from "../../src/optim/grad_scaler.js";
import { clipGradNorm } from "../../src/optim/clip.js";
import { SGD } from "../../src/optim/sgd.js";
import { copyOf } from "../../src/ops/inplace.js";
import { tensor } from "../../src/tensor/create.js";
import { kernels } from "../../src/backends/index.js";
import { loadSafetensors } from "../../src/tensor/safetensors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { assertClose, F32 } from "../helpers/compare.js";
import { fixturesDir } from "../helpers/paths.js";

// test/fixtures/runs_amp.py drove PyTorch's own GradScaler through a sequence of scaled
// gradients with infs and NaNs (see its docstring for how it runs on a CPU).
const { tensors, metadata } = loadSafetensors(join(fixturesDir(), "runs", "amp.safetensors"));
const meta = JSON.parse(metadata.meta!) as {
  options: { init_scale: number; growth_factor: number; backoff_factor: number; growth_interval: number };
  lr: number;
  steps: { scale_used: number; found_inf: boolean; stepped: boolean; scale: number; growth_tracker: number }[];
  state_dict: { scale: number; growth_factor: number; backoff_factor: number; growth_interval: number; _growth_tracker: number };
};
const names = ["w", "b"] as const;

function scalerFromFixture(): GradScaler {
  const o = meta.options;
  return new GradScaler({ initScale: o.init_scale, growthFactor: o.growth_factor, backoffFactor: o.backoff_factor, growthInterval: o.growth_interval });
}

describe("GradScaler makes PyTorch's decisions", () => {
  test("scale, found inf/NaN, skipped steps, unscaled gradients and parameters, step by step", () => {
    const params = names.map((n) => {
      const p = copyOf(tensors[`param0/${n}`]!);
      p.requiresGrad = true;
      return p;
    });
    const opt = new SGD(params, { lr: meta.lr });
    const scaler = scalerFromFixture();
    meta.steps.forEach((expected, t) => {
      assert.equal(scaler.getScale(), expected.scale_used, `step ${t}: scale used`);
      names.forEach((n, i) => (params[i]!.grad = copyOf(tensors[`step/${t}/scaled/${n}`]!)));
      assert.equal(scaler.unscale(opt), expected.found_inf, `step ${t}: found inf`);
      names.forEach((n, i) => assertClose(params[i]!.grad!, tensors[`step/${t}/unscaled/${n}`]!, F32, `step ${t}: unscaled ${n}`));
      assert.equal(scaler.step(opt), expected.stepped, `step ${t}: stepped`);
      scaler.update();
      names.forEach((n, i) => assertClose(params[i]!, tensors[`step/${t}/param/${n}`]!, F32, `step ${t}: ${n}`));
      assert.equal(scaler.getScale(), expected.scale, `step ${t}: scale after update`);
      assert.equal(scaler.stateDict().growthTracker, expected.growth_tracker, `step ${t}: growth tracker`);
      opt.zeroGrad();
    });
    assert.equal(scaler.skippedSteps, meta.steps.filter((s) => !s.stepped).length);
    const sd = meta.state_dict;
    assert.deepEqual(scaler.stateDict(), {
      scale: sd.scale,
      growthFactor: sd.growth_factor,
      backoffFactor: sd.backoff_factor,
      growthInterval: sd.growth_interval,
      growthTracker: sd._growth_tracker,
      skippedSteps: scaler.skippedSteps,
    });
  });
});

describe("GradScaler", () => {
  const sgd = (): { p: Tensor; opt: SGD } => {
    const p = tensor([1, 2, 3]);
    p.requiresGrad = true;
    return { p, opt: new SGD([p], { lr: 0.1 }) };
  };

  test("stateDict round-trips into a fresh scaler", () => {
    const { p, opt } = sgd();
    const a = new GradScaler({ initScale: 8, growthInterval: 1 });
    p.grad = tensor([8, 8, Infinity]);
    a.step(opt);
    a.update();
    const b = new GradScaler();
    b.loadStateDict(a.stateDict());
    assert.deepEqual(b.stateDict(), a.stateDict());
    assert.equal(b.getScale(), 4);
    assert.equal(b.skippedSteps, 1);
  });

  test("unscale before clipping: the clip sees true gradients", () => {
    const { p, opt } = sgd();
    const scaler = new GradScaler({ initScale: 1024 });
    p.grad = tensor([3 * 1024, 4 * 1024, 0]);
    scaler.unscale(opt);
    assert.equal(clipGradNorm([p], 10), 5);
  });

  test("disabled, it passes everything through", () => {
    const { p, opt } = sgd();
    const scaler = new GradScaler({ enabled: false });
    const loss = tensor([2]);
    assert.equal(scaler.scale(loss), loss);
    p.grad = tensor([Infinity, 0, 0]);
    assert.equal(scaler.unscale(opt), false);
    assert.equal(scaler.step(opt), true);
    assert.equal(scaler.getScale(), 1);
  });

  test("misuse is refused, naming the method", () => {
    const { p, opt } = sgd();
    const scaler = new GradScaler();
    assert.throws(() => scaler.update(), /GradScaler.update: no gradients were unscaled this step/);
    p.grad = tensor([1, 1, 1]);
    scaler.unscale(opt);
    assert.throws(() => scaler.unscale(opt), /GradScaler.unscale: already called since the last update\(\)/);
    scaler.step(opt);
    assert.throws(() => scaler.step(opt), /GradScaler.step: already called/);
    assert.throws(() => new GradScaler({ growthFactor: 1 }), /GradScaler: growthFactor must be > 1, got 1/);
    assert.throws(() => new GradScaler({ backoffFactor: 1 }), /GradScaler: backoffFactor must be in \(0, 1\), got 1/);
    assert.throws(() => new GradScaler({ growthInterval: 0.5 }), /GradScaler: growthInterval must be a positive integer, got 0.5/);
  });

  test("the native check finds inf and NaN in every float dtype and unscales in place", () => {
    const x = new Float32Array(100_000).fill(2);
    assert.equal(kernels.unscaleAndCheck(0, x, 0.5), false);
    assert.equal(x[99_999], 1);
    x[77_777] = NaN;
    assert.equal(kernels.unscaleAndCheck(0, x, 1), true);
    const bf16 = new Uint16Array([0x4000, 0x7f80]); // 2, +inf
    assert.equal(kernels.unscaleAndCheck(1, bf16, 0.5), true);
    assert.equal(bf16[0], 0x3f80); // 1
    assert.equal(kernels.unscaleAndCheck(2, new Uint16Array([0x3c00]), 0.5), false);
    assert.throws(() => kernels.unscaleAndCheck(3, new Int32Array(2), 1), /unscaleAndCheck: .*dtype/);
  });
});
