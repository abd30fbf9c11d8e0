import assert from "node:assert/strict";
import { test } from "node:test";

import { compile } from "../../src/compile/index.js";
import { Linear } from "../../src/nn/linear.js";
import { add, mul } from "../../src/ops/binary.js";
import { cast } from "../../src/ops/cast.js";
import { dropout } from "../../src/ops/dropout.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { sum } from "../../src/ops/reduce.js";
import { relu } from "../../src/ops/unary.js";
import { SingleProcess } from "../../src/parallel/strategy.js";
import { timeOps } from "../../src/profile/op_timer.js";
import { tensor } from "../../src/tensor/create.js";
import { memory } from "../../src/tensor/memory.js";
import { pool } from "../../src/tensor/pool.js";
import { manualSeed, randn } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { buildRun } from "../../src/train/build.js";
import { CompiledMicroBatches } from "../../src/train/compiled_micro_batches.js";
import { parseConfig } from "../../src/train/config_file.js";
import type { Batch } from "../../src/train/task.js";

/** A small classifier step: Linear, ReLU, Linear, cross-entropy; backward. */
function classifierStep(model: { a: Linear; b: Linear }): (inputs: readonly Tensor[]) => Tensor[] {
  return (inputs) => [
    tidy(() => {
      const loss = crossEntropy(model.b.forward(relu(model.a.forward(inputs[0]!))), inputs[1]!);
      loss.backward();
      return loss;
    }),
  ];
}

function classifier(): { a: Linear; b: Linear; params: Tensor[] } {
  manualSeed(5);
  const a = new Linear(6, 8),
    b = new Linear(8, 3);
  return { a, b, params: [...a.parameters(), ...b.parameters()] };
}

function batchOf(rows: number, seed: number): [Tensor, Tensor] {
  manualSeed(seed);
  return [
    randn([rows, 6]),
    tensor(
      Array.from({ length: rows }, (_, i) => (i * 7 + seed) % 3),
      { dtype: "int32" },
    ),
  ];
}

const gradsOf = (params: readonly Tensor[]): number[][] => params.map((p) => p.grad!.toArray());

const dropGrads = (params: readonly Tensor[]): void => {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
};

test("a compiled step replays the eager step: the same losses and gradients on new inputs, recorded twice and compiled once", () => {
  const eager = classifier(),
    compiled = classifier();
  const step = compile(classifierStep(compiled), { parameters: compiled.params, log: () => {} });
  for (let i = 0; i < 6; i++) {
    const [x, y] = batchOf(5, i);
    const [expected] = classifierStep(eager)([x, y]).map((t) => {
      const v = t.item();
      t.dispose();
      return v;
    });
    const [loss] = step.run([x, y]);
    assert.equal(loss, expected, `step ${i}: loss`);
    assert.deepEqual(gradsOf(compiled.params), gradsOf(eager.params), `step ${i}: gradients`);
    dropGrads(eager.params);
    dropGrads(compiled.params);
  }
  const stats = step.stats;
  assert.equal(stats.compilations, 1);
  assert.equal(stats.replays, 4, "steps 3 to 6 replay");
  assert.equal(stats.eagerSteps, 2);
  assert.ok(stats.last!.kernels > 5 && stats.last!.arenaBytes < stats.last!.unplannedBytes, JSON.stringify(stats.last));
});

test("each input shape compiles once and is cached; past the cache's bound new shapes run eagerly, with one message", () => {
  const model = classifier();
  const lines: string[] = [];
  const step = compile(classifierStep(model), { parameters: model.params, cacheSize: 2, log: (line) => lines.push(line) });
  const eager = classifier();
  for (let round = 0; round < 4; round++) {
    for (const rows of [4, 5, 6]) {
      const [x, y] = batchOf(rows, round);
      const [loss] = step.run([x, y]);
      const [expected] = classifierStep(eager)([x, y]).map((t) => {
        const v = t.item();
        t.dispose();
        return v;
      });
      assert.equal(loss, expected, `round ${round}, ${rows} rows`);
      dropGrads(model.params);
      dropGrads(eager.params);
    }
  }
  assert.equal(step.stats.compilations, 2, "shapes 4 and 5, not 6");
  assert.equal(step.stats.replays, 4, "rounds 2 and 3 of two shapes");
  const bound = lines.filter((l) => l.includes("bound"));
  assert.equal(bound.length, 1, lines.join("\n"));
  assert.match(bound[0]!, /float32\[6, 6\]/);
});

test("a step that draws random numbers (dropout) is not compiled: it runs eagerly, and says why", () => {
  const w = tensor([1, 2, 3, 4], { requiresGrad: true });
  const lines: string[] = [];
  const step = compile(
    (inputs) => [
      tidy(() => {
        const loss = sum(dropout(mul(inputs[0]!, w), 0.5, true));
        loss.backward();
        return loss;
      }),
    ],
    { parameters: [w], log: (line) => lines.push(line) },
  );
  for (let i = 0; i < 5; i++) {
    step.run([tensor([1, 1, 1, 1])]);
    dropGrads([w]);
  }
  assert.equal(step.stats.compilations, 0);
  assert.equal(step.stats.replays, 0);
  assert.match(lines.join("\n"), /run eagerly: the kernel dropout draws random numbers/);
});

test("dead entries are removed: a cast whose result nothing reads is not replayed, and the result stays right", () => {
  const w = tensor([0.5, -1, 2, -3], { requiresGrad: true });
  const body = (inputs: readonly Tensor[]): Tensor[] => [
    tidy(() => {
      cast(inputs[0]!, "bfloat16"); // unused
      const loss = sum(relu(add(inputs[0]!, w)));
      loss.backward();
      return loss;
    }),
  ];
  const step = compile(body, { parameters: [w], log: () => {} });
  for (let i = 0; i < 4; i++) {
    const x = tensor([i, -i, 2 * i, 1]);
    const [loss] = step.run([x]);
    const expected = [i + 0.5, -i - 1, 2 * i + 2, -2].reduce((s, v) => s + Math.max(v, 0), 0);
    assert.equal(loss, expected, `step ${i}`);
    assert.deepEqual(
      w.grad!.toArray(),
      [i + 0.5, -i - 1, 2 * i + 2, -2].map((v) => (v > 0 ? 1 : 0)),
    );
    dropGrads([w]);
  }
  assert.equal(step.stats.replays, 2);
  assert.ok(step.stats.last!.removed >= 1, `removed ${step.stats.last!.removed}`);
});

test("the default cnn's compiled step, optimizer included, allocates no tensor memory after its first replay (memory tracker, buffer pool)", () => {
  const config = parseConfig(
    { model: { kind: "cnn" }, data: { kind: "fashion-mnist", batchSize: 16 }, optimizer: { kind: "adamw", lr: 2e-3 } },
    "compile memory test",
  );
  const parts = buildRun(config);
  const iterator = parts.train[Symbol.iterator]();
  const batch = iterator.next().value as Batch;
  const optimizerPart = (): void => {
    parts.optimizer.step();
    parts.optimizer.zeroGrad();
  };
  const micro = new CompiledMicroBatches({ ...parts, strategy: new SingleProcess(parts.model), gradScaler: null, optimizerPart, log: () => {} });
  // The compiled step is the whole step, its optimizer's part included.
  const step = (compiled: boolean): void => {
    if (compiled) micro.run([batch]);
    else {
      tidy(() => parts.task.loss(parts.model, batch).backward());
      optimizerPart();
    }
  };
  for (let i = 0; i < 3; i++) step(true);
  assert.equal(micro.stats.replays, 1);
  const acquired = (fn: () => void): { bytes: number; acquisitions: number } => {
    const acquire = pool.acquire.bind(pool);
    let acquisitions = 0;
    pool.acquire = (bytes) => {
      acquisitions++;
      return acquire(bytes);
    };
    memory.resetPeak();
    const before = memory.report().total;
    try {
      fn();
    } finally {
      delete (pool as { acquire?: unknown }).acquire;
    }
    return { bytes: memory.report().peakTotal - before, acquisitions };
  };
  const replayed = acquired(() => step(true));
  assert.deepEqual(replayed, { bytes: 0, acquisitions: 0 });
  // The same step eagerly does allocate: the measurement can see it.
  const eager = acquired(() => step(false));
  assert.ok(eager.bytes > 0 && eager.acquisitions > 0, JSON.stringify(eager));
  micro.dispose();
  parts.train.close();
});

test("under the op profiler a replayed step shows as its kernels", () => {
  const model = classifier();
  const step = compile(classifierStep(model), { parameters: model.params, log: () => {} });
  for (let i = 0; i < 2; i++) {
    step.run(batchOf(5, i));
    dropGrads(model.params);
  }
  const { table } = timeOps(() => step.run(batchOf(5, 9)));
  dropGrads(model.params);
  const names = table.map((r) => `${r.op} (${r.phase})`);
  assert.ok(names.includes("compiled matmul (forward)") && names.includes("compiled matmul (backward)"), names.join(", "));
  assert.ok(!names.some((n) => n.startsWith("linear")), "no op ran");
});
