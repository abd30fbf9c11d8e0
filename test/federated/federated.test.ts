import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { Rng } from "../../src/data/random.js";
import { addProximalGradient, federatedAveraging, partition } from "../../src/federated/index.js";
import { mlp } from "../../src/models/mlp.js";
import { add, mul, sub, sum } from "../../src/ops/index.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { SGD } from "../../src/optim/sgd.js";
import { startThreads } from "../../src/parallel/threads/spawn.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { assertClose, F32 } from "../helpers/compare.js";
import { FEATURES, run, samples } from "./federated_rank.js";

test("IID FedAvg with one local step and every client equals synchronous data-parallel SGD, in one process and over 2 threads", {
  timeout: 120_000,
}, async () => {
  const reference = run(null, { reference: true });
  const fedavg = run(null, { reference: false });
  fedavg.forEach((p, i) => assertClose(p, reference[i]!, F32, `one process: parameter ${i}`));
  const job = startThreads({
    size: 2,
    module: new URL("./federated_rank.js", import.meta.url),
    args: { reference: false },
    onLine: () => {},
    threadsPerWorker: 1,
  });
  for (const outcome of await job.done) {
    assert.ok(outcome.ok, outcome.ok ? "" : outcome.error.stack);
    (outcome.result as number[][]).forEach((p, i) => assertClose(p, reference[i]!, F32, `thread ${outcome.rank}: parameter ${i}`));
  }
});

test("partitions hold each sample exactly once; shards give each client shardsPerClient label-sorted shards; small Dirichlet alpha concentrates classes", () => {
  const rng = Rng.seeded(2);
  // 10 classes of 100 samples in a shuffled order.
  const labels = Int32Array.from(rng.permutation(1000), (i) => i % 10);
  const classesPerClient = (parts: number[][]) => parts.map((p) => new Set(p.map((i) => labels[i])).size);
  for (const how of [{ kind: "iid" }, { kind: "dirichlet", alpha: 0.3 }, { kind: "shards", shardsPerClient: 2 }] as const) {
    const parts = partition(labels, 10, how, 4);
    assert.deepEqual(
      parts.flat().sort((a, b) => a - b),
      Array.from({ length: 1000 }, (_, i) => i),
      `${how.kind}: every sample once`,
    );
  }
  const shards = partition(labels, 10, { kind: "shards", shardsPerClient: 2 }, 4);
  // 20 shards of 50 samples of the label-sorted order: each one class, two per client.
  for (const p of shards) assert.equal(p.length, 100);
  for (const k of classesPerClient(shards)) assert.ok(k >= 1 && k <= 2, `a client of shards holds ${k} classes`);
  assert.deepEqual(
    shards.map((p) => [...new Set(p.map((i) => labels[i]))].map((c) => p.filter((i) => labels[i] === c).length % 50)),
    shards.map((p) => [...new Set(p.map((i) => labels[i]))].map(() => 0)),
    "whole shards of 50",
  );
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(
    mean(classesPerClient(partition(labels, 10, { kind: "dirichlet", alpha: 0.1 }, 4))) <
      mean(classesPerClient(partition(labels, 10, { kind: "dirichlet", alpha: 100 }, 4))),
  );
  assert.equal(mean(classesPerClient(partition(labels, 10, { kind: "iid" }, 4))), 10);
  assert.throws(() => partition(labels, 10, { kind: "shards", shardsPerClient: 101 }, 0), /shardsPerClient must be 1 to 100, got 101/);
});

test("FedProx's proximal term adds the gradient of mu/2 ‖w − w_global‖² and pulls local training towards the global model", () => {
  manualSeed(1);
  const model = mlp({ inputs: 6, hidden: [5], classes: 3 });
  const params = model.parameters();
  const global = params.map((p) => Float32Array.from(p.toArray(), (v, j) => v + Math.sin(j)));
  const mu = 0.3;
  // Autograd's gradient of the term itself.
  const term = params.map((p, i) => mul(sum(mul(sub(p, tensor(global[i]!, { shape: p.shape })), sub(p, tensor(global[i]!, { shape: p.shape })))), mu / 2));
  term.reduce((a, b) => add(a, b)).backward();
  const expected = params.map((p) => p.grad!.toArray());
  for (const p of params) p.grad = tensor(new Float32Array(p.size), { shape: p.shape });
  addProximalGradient(params, global, mu);
  params.forEach((p, i) => assertClose(p.grad!.toArray(), expected[i]!, F32, `parameter ${i}`));

  const { x, y } = samples();
  const moved = (algorithm: "fedavg" | "fedprox") => {
    manualSeed(3);
    const m = mlp({ inputs: FEATURES, hidden: [16], classes: 4 });
    const start = m.parameters().flatMap((p) => p.toArray());
    federatedAveraging({
      model: m,
      optimizer: () => new SGD(m.parameters(), { lr: 0.1 }),
      loss: (mm, xs, ys) => crossEntropy(mm.forward(xs), ys),
      data: {
        sample: (i) => ({ x: x.subarray(i * FEATURES, (i + 1) * FEATURES), y: y[i]! }),
        sampleShape: [FEATURES],
        clients: [Array.from({ length: 32 }, (_, i) => i)],
      },
      options: { rounds: 1, local: { steps: 10 }, batchSize: 8, fraction: 1, algorithm, mu: 2, stragglers: 0, stragglerWork: "keep", dropped: 0, seed: 1 },
    });
    return Math.hypot(
      ...m
        .parameters()
        .flatMap((p) => p.toArray())
        .map((v, j) => v - start[j]!),
    );
  };
  assert.ok(moved("fedprox") < 0.9 * moved("fedavg"), `fedprox ${moved("fedprox")} vs fedavg ${moved("fedavg")}`);
});

test("stragglers and dropped clients: counted per round; dropped ones (and stragglers under drop) send nothing", () => {
  const { x, y } = samples();
  manualSeed(3);
  const m = mlp({ inputs: FEATURES, hidden: [4], classes: 4 });
  const clients = partition(y, 8, { kind: "iid" }, 0);
  const run1 = (stragglerWork: "keep" | "drop") =>
    federatedAveraging({
      model: m,
      optimizer: () => new SGD(m.parameters(), { lr: 0.1 }),
      loss: (mm, xs, ys) => crossEntropy(mm.forward(xs), ys),
      data: { sample: (i) => ({ x: x.subarray(i * FEATURES, (i + 1) * FEATURES), y: y[i]! }), sampleShape: [FEATURES], clients },
      options: {
        rounds: 3,
        local: { steps: 2 },
        batchSize: 2,
        fraction: 1,
        algorithm: "fedavg",
        mu: 0,
        stragglers: 0.25,
        stragglerWork,
        dropped: 0.25,
        seed: 1,
      },
    });
  for (const [work, left] of [
    ["keep", 2],
    ["drop", 4],
  ] as const)
    for (const r of run1(work)) {
      assert.equal(r.selected.length, 8);
      assert.equal(r.stragglers.length, 2);
      assert.equal(r.dropped.length, left, `${work}: clients left out`);
      assert.equal(r.samples, 4 * (8 - left), "each client holds 4 samples; only those not left out count");
    }
});

test("turbine federated: a bad federated field, more clients than samples, or a config without the block exits 2 naming it", () => {
  const dir = mkdtempSync(join(tmpdir(), "turbine-federated-"));
  const cli = join(import.meta.dirname, "..", "..", "src", "cli", "main.js");
  const base = { model: { kind: "mlp", hidden: [8] }, data: { kind: "fashion-mnist", batchSize: 10 }, optimizer: { kind: "sgd", lr: 0.1 }, outDir: dir };
  for (const [config, message] of [
    [{ ...base, federated: { clients: 4, fraction: 2 } }, /federated\.fraction/],
    [{ ...base, federated: { localSteps: 2, localEpochs: 1 } }, /localSteps or localEpochs, not both/],
    [base, /needs a federated block/],
    [{ ...base, model: { kind: "gpt" }, federated: {} }, /federated training runs the mlp or cnn on fashion-mnist/],
    [{ ...base, federated: { clients: 60001 } }, /config: federated: clients must be 1 to 60000 \(the samples\), got 60001/],
    [{ ...base, federated: { clients: 40000, partition: "shards" } }, /config: federated: shardsPerClient must be 1 to 1, got 2/],
  ] as const) {
    const file = join(dir, "c.json");
    writeFileSync(file, JSON.stringify(config));
    const r = spawnSync(process.execPath, [cli, "federated", file], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});
