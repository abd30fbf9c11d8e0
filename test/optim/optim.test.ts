import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";

import { copyOf } from "../../src/ops/inplace.js";
import {
  Adam,
  AdamW,
  SGD,
  LRScheduler,
  clipGradNorm,
  clipGradValue,
  cosine,
  linearWarmup,
  oneCycle,
  sequential,
  stepDecay,
  warmupStableDecay,
  linearDecay,
  type Optimizer,
} from "../../src/optim/index.js";
import { tensor, zeros } from "../../src/tensor/create.js";
import { loadSafetensors } from "../../src/tensor/safetensors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { assertClose } from "../helpers/compare.js";
import { fixturesDir } from "../helpers/paths.js";

const { tensors, metadata } = loadSafetensors(join(fixturesDir(), "runs", "optim.safetensors"));
const meta = JSON.parse(metadata.meta!) as {
  steps: number;
  optimizers: Record<string, Record<string, unknown>>;
  schedules: Record<string, number[]>;
  clip: { max_norm: number; norm: number };
};

function make(name: string, params: Tensor[]): Optimizer<any> {
  const o = meta.optimizers[name]! as any;
  const common = { lr: o.lr, weightDecay: o.weight_decay ?? undefined };
  if (name.startsWith("sgd"))
    return new SGD(params, {
      ...common,
      weightDecay: o.weight_decay ?? 0,
      momentum: o.momentum ?? 0,
      dampening: o.dampening ?? 0,
      nesterov: o.nesterov ?? false,
    });
  const adam = {
    lr: o.lr,
    ...(o.betas ? { betas: o.betas } : {}),
    ...(o.eps ? { eps: o.eps } : {}),
    ...(o.weight_decay !== undefined ? { weightDecay: o.weight_decay } : {}),
  };
  return name === "adamw" ? new AdamW(params, adam) : new Adam(params, adam);
}

describe("optimizers follow PyTorch's trajectories", () => {
  for (const name of Object.keys(meta.optimizers)) {
    test(name, () => {
      const w = copyOf(tensors.w0!),
        b = copyOf(tensors.b0!);
      w.requiresGrad = b.requiresGrad = true;
      const opt = make(name, [w, b]);
      for (let t = 0; t < meta.steps; t++) {
        w.grad = copyOf(tensors[`grad/${t}/w`]!);
        b.grad = copyOf(tensors[`grad/${t}/b`]!);
        opt.step();
        opt.zeroGrad();
        assertClose(w, tensors[`${name}/${t}/w`]!, { rtol: 1e-6, floor: 1e-6 }, `${name} step ${t} w`);
        assertClose(b, tensors[`${name}/${t}/b`]!, { rtol: 1e-6, floor: 1e-6 }, `${name} step ${t} b`);
      }
    });
  }
});

test("stateDict and loadStateDict resume an optimizer exactly", () => {
  const run = (resumeAt: number | null): number[] => {
    const w = tensor(
      [
        [1, -2],
        [3, 0.5],
      ],
      { requiresGrad: true },
    );
    let opt = new AdamW([w], { lr: 0.1, weightDecay: 0.1 });
    for (let t = 0; t < 6; t++) {
      if (t === resumeAt) {
        const saved = opt.stateDict();
        const copy = {
          state: Object.fromEntries(
            Object.entries(saved.state).map(([k, s]) => [
              k,
              { step: s.step, tensors: Object.fromEntries(Object.entries(s.tensors).map(([n, x]) => [n, copyOf(x)])) },
            ]),
          ),
          paramGroups: JSON.parse(JSON.stringify(saved.paramGroups)),
        };
        opt = new AdamW([w], { lr: 0.5 });
        opt.loadStateDict(copy);
      }
      w.grad = tensor([
        [t, 1],
        [-1, 2 * t],
      ]);
      opt.step();
    }
    return w.toArray();
  };
  assert.deepEqual(run(3), run(null));
});

test("hyperparameters are validated with the bad value in the message", () => {
  const p = [zeros([2])];
  assert.throws(() => new SGD(p, { lr: -1 }), /SGD: lr must be a number ≥ 0, got -1/);
  assert.throws(() => new SGD(p, { lr: 0.1, nesterov: true }), /SGD: nesterov needs momentum > 0 and dampening 0/);
  assert.throws(() => new Adam(p, { betas: [0.9, 1] }), /Adam: betas\[1\] must be a number in \[0, 1\), got 1/);
  assert.throws(() => new AdamW(p, { eps: Number.NaN }), /AdamW: eps must be a number ≥ 0, got null/);
  assert.throws(() => new AdamW([], {}), /AdamW: got an empty parameter list/);
  assert.throws(() => new SGD([{ params: p }, { params: p }], { lr: 1 }), /appears in more than one group/);
  assert.throws(() => new Adam([zeros([2], { dtype: "bfloat16" })]), /parameters must be float32 master weights/);
});

test("parameter groups keep their own hyperparameters", () => {
  const a = tensor([1], { requiresGrad: true }),
    b = tensor([1], { requiresGrad: true });
  const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
  a.grad = tensor([1]);
  b.grad = tensor([1]);
  opt.step();
  assert.ok(Math.abs(a.item() - 0.9) < 1e-7);
  assert.ok(Math.abs(b.item() - 0.5) < 1e-7);
});

describe("schedules give PyTorch's learning rates", () => {
  // PyTorch's cosine restarts upward after T_max; turbine's holds the floor, so compare through T_max.
  const check = (name: string, schedule: (s: number) => number, through = Infinity): void => {
    test(name, () => {
      const expected = meta.schedules[name]!.slice(0, through + 1);
      const p = zeros([1]);
      const opt = new SGD([p], { lr: 1 });
      const sched = new LRScheduler(opt, schedule);
      const got: number[] = [];
      for (let s = 0; s < expected.length; s++) {
        got.push(opt.paramGroups[0]!.lr);
        sched.step();
      }
      assertClose(got, expected, { rtol: 1e-9, floor: 1e-12 }, name);
    });
  };
  check("cosine", cosine(20, 0.1), 20);
  check("step", stepDecay(7, 0.5));
  check("one_cycle", oneCycle(30));
  check("warmup_then_cosine", sequential([linearWarmup(5), cosine(15, 0.1)], [5]), 20);
});

test("warmup-stable-decay and linear decay reach their floor", () => {
  const wsd = warmupStableDecay({ warmup: 2, stable: 3, decay: 4, floor: 0.1 });
  assert.deepEqual(
    [0, 1, 2, 4, 5, 9, 20].map((s) => +wsd(s).toFixed(6)),
    [0.5, 1, 1, 1, 1, 0.1, 0.1],
  );
  assert.equal(linearDecay(10)(5), 0.5);
  assert.throws(() => cosine(0), /cosine: steps must be a positive integer, got 0/);
  assert.throws(() => sequential([linearWarmup(2)], [2]), /1 schedules need 0 lengths/);
});

test("clipGradNorm matches torch.nn.utils.clip_grad_norm_", () => {
  const ps = [zeros([5, 4]), zeros([7])];
  ps.forEach((p, i) => (p.grad = copyOf(tensors[`clip/in/${i}`]!)));
  const norm = clipGradNorm(ps, meta.clip.max_norm);
  assert.ok(Math.abs(norm - meta.clip.norm) < 1e-5 * meta.clip.norm);
  ps.forEach((p, i) => assertClose(p.grad!, tensors[`clip/out/${i}`]!, { rtol: 1e-6, floor: 1e-7 }, `clipped grad ${i}`));
  const small = zeros([2]);
  small.grad = tensor([0.3, -0.4]);
  assert.ok(Math.abs(clipGradNorm([small], 1) - 0.5) < 1e-7);
  assert.deepEqual(
    small.grad.toArray().map((v) => +v.toFixed(6)),
    [0.3, -0.4],
    "below the limit: unchanged",
  );
  clipGradValue([small], 0.35);
  assert.deepEqual(
    small.grad.toArray().map((v) => +v.toFixed(6)),
    [0.3, -0.35],
  );
  assert.throws(() => clipGradNorm(ps, 0), /maxNorm must be positive, got 0/);
});
