import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";

import { Linear } from "../../src/nn/linear.js";
import { copyOf } from "../../src/ops/inplace.js";
import { Lamb, Lion, Muon, type Optimizer } from "../../src/optim/index.js";
import { disposeState } from "../../src/parallel/state.js";
import { SingleProcess } from "../../src/parallel/strategy.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { loadSafetensors } from "../../src/tensor/safetensors.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { checkpointName, loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";
import { assertClose } from "../helpers/compare.js";
import { fixturesDir } from "../helpers/paths.js";

// Trajectories from Python ports of the reference updates (test/fixtures/runs_lamb_lion_muon.py).
const { tensors, metadata } = loadSafetensors(join(fixturesDir(), "runs", "lamb_lion_muon.safetensors"));
const meta = JSON.parse(metadata.meta!) as {
  steps: number;
  shapes: Record<string, number[]>;
  lamb: { lr: number; betas: [number, number]; eps: number; weight_decay: number };
  lion: { lr: number; betas: [number, number]; weight_decay: number };
  muon: Record<string, any>;
  muonParams: string[];
};
const names = Object.keys(meta.shapes);

const makers: Record<string, (params: Record<string, Tensor>) => Optimizer<any>> = {
  lamb: (p) => new Lamb(Object.values(p), { lr: meta.lamb.lr, betas: meta.lamb.betas, eps: meta.lamb.eps, weightDecay: meta.lamb.weight_decay }),
  lion: (p) => new Lion(Object.values(p), { lr: meta.lion.lr, betas: meta.lion.betas, weightDecay: meta.lion.weight_decay }),
  muon: (p) => makeMuon(p, true),
  muon_plain: (p) => makeMuon(p, false),
};

function makeMuon(p: Record<string, Tensor>, nesterov: boolean): Optimizer<any> {
  const m = meta.muon;
  return new Muon(
    [
      { params: names.filter((n) => meta.muonParams.includes(n)).map((n) => p[n]!) },
      {
        params: names.filter((n) => !meta.muonParams.includes(n)).map((n) => p[n]!),
        useMuon: false,
        lr: m.adam_lr,
        betas: m.adam_betas,
        eps: m.adam_eps,
        weightDecay: m.adam_weight_decay,
      },
    ],
    { lr: m.lr, momentum: m.momentum, weightDecay: m.weight_decay, nesterov },
  );
}

function fresh(): Record<string, Tensor> {
  return Object.fromEntries(names.map((n) => [n, Object.assign(copyOf(tensors[`init/${n}`]!), { requiresGrad: true })]));
}

describe("LAMB, Lion and Muon follow their reference updates for 20 steps", () => {
  for (const kind of Object.keys(makers)) {
    test(kind, () => {
      const params = fresh();
      const opt = makers[kind]!(params);
      for (let t = 0; t < meta.steps; t++) {
        for (const n of names) params[n]!.grad = copyOf(tensors[`grad/${t}/${n}`]!);
        opt.step();
        opt.zeroGrad();
        for (const n of names) assertClose(params[n]!, tensors[`${kind}/${t}/${n}`]!, { rtol: 1e-5, floor: 1e-5 }, `${kind} step ${t} ${n}`);
      }
    });
  }
});

test("a resumed LAMB, Lion or Muon continues exactly (state through stateDict)", () => {
  for (const kind of Object.keys(makers)) {
    const run = (resumeAt: number | null): Tensor[] => {
      let params = fresh();
      let opt = makers[kind]!(params);
      for (let t = 0; t < 6; t++) {
        if (t === resumeAt) {
          const saved = opt.stateDict();
          const again = fresh();
          for (const n of names) again[n]!.data.set(params[n]!.data);
          const next = makers[kind]!(again);
          next.loadStateDict(saved);
          [params, opt] = [again, next];
        }
        for (const n of names) params[n]!.grad = copyOf(tensors[`grad/${t}/${n}`]!);
        opt.step();
        opt.zeroGrad();
      }
      return names.map((n) => params[n]!);
    };
    const straight = run(null),
      resumed = run(3);
    straight.forEach((p, i) => assert.deepEqual(resumed[i]!.toArray(), p.toArray(), `${kind} ${names[i]}`));
  }
});

test("Lion keeps one state buffer; LAMB two; Muon one per matrix, two per AdamW parameter", () => {
  const stateNames = (kind: string, param: string): string[] => {
    const params = fresh();
    const opt = makers[kind]!(params);
    for (const n of names) params[n]!.grad = copyOf(tensors[`grad/0/${n}`]!);
    opt.step();
    return Object.keys(opt.paramState(params[param]!)!.tensors);
  };
  assert.deepEqual(stateNames("lion", "tall"), ["expAvg"]);
  assert.deepEqual(stateNames("lamb", "tall"), ["expAvg", "expAvgSq"]);
  assert.deepEqual(stateNames("muon", "tall"), ["momentumBuffer"]);
  assert.deepEqual(stateNames("muon", "embed"), ["expAvg", "expAvgSq"]);
});

test("bad hyperparameters are refused, naming the value", () => {
  const w = tensor([[1, 2]]);
  assert.throws(() => new Lion([w], { betas: [1.2, 0.99] }), /Lion: betas\[0\] must be a number in \[0, 1\), got 1.2/);
  assert.throws(() => new Lamb([w], { eps: -1 }), /LAMB: eps must be a number ≥ 0, got -1/);
  assert.throws(() => new Muon([w], { momentum: 1 }), /Muon: momentum must be a number in \[0, 1\), got 1/);
  assert.throws(() => new Muon([tensor([1, 2])]), /Muon: a useMuon group holds a parameter of shape \[2\]/);
});

test("a Muon checkpoint (momentum of its matrices, AdamW moments of the rest, boolean hyperparameters) resumes exactly", () => {
  const root = mkdtempSync(join(tmpdir(), "turbine-muon-ckpt-"));
  try {
    const make = () => {
      const model = new Linear(4, 6);
      return { model, opt: new Muon([{ params: [model.weight] }, { params: [model.bias!], useMuon: false, lr: 1e-2 }], { lr: 0.05 }) };
    };
    const stepWith = ({ model, opt }: ReturnType<typeof make>, t: number) => {
      model.weight.grad = copyOf(tensors[`grad/${t}/tall`]!);
      model.bias!.grad = tensor([t, 1, -2, 0.5, 3, -t]);
      opt.step();
      opt.zeroGrad();
    };
    manualSeed(5);
    const a = make();
    for (let t = 0; t < 3; t++) stepWith(a, t);
    const state = new SingleProcess(a.model).stateDict(a.opt);
    const dir = join(root, checkpointName(3));
    saveCheckpoint(dir, { state, meta: { step: 3, epoch: 0, rng: { seed: 5, offset: 0 }, data: { epoch: 0, batchIndex: 3 } } });
    disposeState(state);
    const b = make();
    const loaded = loadCheckpoint(dir);
    new SingleProcess(b.model).loadStateDict(loaded.reader, b.opt);
    loaded.close();
    assert.equal(b.opt.paramGroups[1]!.useMuon, false);
    for (let t = 3; t < 6; t++) {
      stepWith(a, t);
      stepWith(b, t);
    }
    assert.deepEqual(b.model.weight.toArray(), a.model.weight.toArray());
    assert.deepEqual(b.model.bias!.toArray(), a.model.bias!.toArray());
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
