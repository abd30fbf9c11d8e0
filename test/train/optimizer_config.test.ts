import assert from "node:assert/strict";
import { test } from "node:test";

import { GPT } from "../../src/models/gpt.js";
import { mlp } from "../../src/models/mlp.js";
import { Lamb, Lion, Muon } from "../../src/optim/index.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { buildOptimizer } from "../../src/train/build.js";
import { ConfigError, parseConfig } from "../../src/train/config_file.js";
import { muonSplit } from "../../src/train/muon_split.js";
import { checkLayout, strategyFor } from "../../src/train/strategy_for.js";

const config = (optimizer: Record<string, unknown>, parallel: Record<string, unknown> = {}) =>
  parseConfig({ model: { kind: "mlp" }, data: { kind: "fashion-mnist" }, optimizer, parallel }, "test.json");

test("optimizer.kind lamb, lion and muon build their optimizers with the config's hyperparameters", () => {
  const model = mlp({ inputs: 6, hidden: [5, 4], classes: 3 });
  const lamb = buildOptimizer(config({ kind: "lamb", lr: 2e-3, eps: 1e-7 }), model);
  assert.ok(lamb instanceof Lamb);
  assert.equal(lamb.paramGroups[0]!.eps, 1e-7);
  const lion = buildOptimizer(config({ kind: "lion", lr: 1e-4, betas: [0.95, 0.98], decayOn: "matrices", weightDecay: 0.3 }), model);
  assert.ok(lion instanceof Lion);
  assert.deepEqual(
    lion.paramGroups.map((g) => [g.betas, g.weightDecay]),
    [
      [[0.95, 0.98], 0.3],
      [[0.95, 0.98], 0],
    ],
  );
  const muon = buildOptimizer(config({ kind: "muon", lr: 0.02, adamLr: 1e-3, momentum: 0.9 }), model);
  assert.ok(muon instanceof Muon);
  assert.deepEqual(
    muon.paramGroups.map((g) => [g.useMuon, g.lr, g.momentum, g.params.map((p) => p.shape.join("x"))]),
    [
      [true, 0.02, 0.9, ["5x6", "4x5"]],
      [false, 1e-3, 0.9, ["5", "4", "3x4", "3"]],
    ],
    "the hidden matrices are Muon's; the head and the biases AdamW's",
  );
});

test("muonSplit keeps the gpt's embeddings and untied head off Muon, and its hidden matrices on", () => {
  for (const tiedHead of [true, false]) {
    const model = new GPT({ vocabSize: 11, context: 8, layers: 2, heads: 2, width: 8, tiedHead });
    const { matrices, others } = muonSplit(model);
    const names = new Map(model.namedParameters().map(([n, p]) => [p, n]));
    assert.deepEqual(
      matrices.map((p) => names.get(p)),
      model
        .namedParameters()
        .filter(([n, p]) => n.startsWith("blocks.") && p.ndim === 2)
        .map(([n]) => n),
    );
    const off = others.map((p) => names.get(p)!);
    assert.ok(off.includes("tokens.weight") && off.includes("positions.weight"));
    assert.equal(off.includes("head.weight"), !tiedHead);
  }
});

test("bad optimizer hyperparameters are config errors naming the field", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ kind: "muon", momentum: 1 }, /optimizer\.momentum.*Muon's momentum must be below 1, got 1/],
    [{ kind: "lion", adamLr: 1e-3 }, /optimizer\.adamLr.*adamLr is Muon's only; optimizer\.kind is lion/],
    [{ kind: "lamb", betas: [0.9, 1] }, /optimizer\.betas/],
    [{ kind: "rmsprop" }, /optimizer\.kind/],
  ];
  for (const [optimizer, message] of bad)
    assert.throws(
      () => config(optimizer),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
    );
});

test("LAMB and Muon run with ZeRO 1 to 3 (whole norms and matrices gathered) and are refused where tensor parallel splits parameters, naming the optimizer", () => {
  const model = mlp({ inputs: 6, hidden: [5], classes: 3 });
  const group = { size: 2, rank: 0 } as ProcessGroup;
  for (const kind of ["lamb", "muon"]) {
    for (const zero of [1, 2, 3]) assert.deepEqual(checkLayout(config({ kind }, { zero }), 2), { data: 2, tensor: 1, pipeline: 1, expert: 1 });
    assert.throws(
      () => strategyFor(config({ kind }, { tensor: 2 }), model, group),
      (e: unknown) => e instanceof ConfigError && new RegExp(`optimizer\\.kind ${kind} needs whole parameters .* parallel\\.tensor 2`).test(e.message),
    );
  }
});
