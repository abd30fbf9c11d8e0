import assert from "node:assert/strict";
import { test } from "node:test";

import { alignPoints } from "../../src/report/align.js";
import { intervalThroughput, plotsOf, runColor } from "../../src/report/plots.js";
import type { RunData, TrainPoint } from "../../src/report/run_data.js";
import { differingFields, flatten, formatField } from "../../src/report/tables.js";

test("aligned points: the union of the steps, each line null where it logged nothing, a repeated step keeps the later value", () => {
  assert.deepEqual(
    alignPoints([
      { x: [10, 20, 30], y: [1, 2, 3] },
      { x: [5, 20, 20], y: [7, 8, 9] },
    ]),
    [
      [5, 10, 20, 30],
      [null, 1, 2, 3],
      [7, null, 9, null],
    ],
  );
  assert.deepEqual(alignPoints([]), [[]]);
});

test("throughput between logged steps shows a slowdown the running average hides; a restarted clock keeps the average", () => {
  // 100 units/s for 10 s, then 50 units/s for 10 s: the running average is 75 at 20 s.
  const points = [
    { throughput: 100, trainSeconds: 10 },
    { throughput: 75, trainSeconds: 20 },
    { throughput: 40, trainSeconds: 5 }, // a resumed trainer's clock starts again
  ];
  assert.deepEqual(intervalThroughput(points), [100, 50, 40]);
});

const point = (step: number, extra: Partial<TrainPoint> = {}): TrainPoint => ({
  step,
  loss: 1 / step,
  lr: 0.01,
  gradNorm: null,
  throughput: 10,
  dataWait: 0.5,
  trainSeconds: step,
  ...extra,
});

const runData = (label: string, train: TrainPoint[], evals: RunData["eval"] = []): RunData => ({
  dir: label,
  label,
  config: {},
  train,
  eval: evals,
  summary: null,
});

test("plots: one line per run in its colour (memory: held and peak), plots without points left out", () => {
  const a = runData(
    "a/version_0",
    [point(1, { memoryBytes: 2 ** 20, peakMemoryBytes: 2 ** 21 }), point(2, { memoryBytes: 2 ** 20, peakMemoryBytes: 2 ** 22 })],
    [{ step: 2, loss: 0.4, accuracy: 0.75 }],
  );
  const b = runData("b/version_0", [point(1), point(3, { gradNorm: 0.5 })], [{ step: 3, loss: 0.3 }]);
  const plots = plotsOf([a, b]);
  assert.deepEqual(
    plots.map((p) => p.id),
    ["loss", "val_loss", "val_accuracy", "lr", "throughput", "data_wait", "grad_norm", "memory"],
  );
  const byId = new Map(plots.map((p) => [p.id, p]));
  const loss = byId.get("loss")!;
  assert.deepEqual(loss.data, [
    [1, 2, 3],
    [1, 0.5, null],
    [1, null, 1 / 3],
  ]);
  assert.deepEqual(
    loss.lines.map((l) => [l.label, l.color]),
    [
      ["a/version_0", runColor(0)],
      ["b/version_0", runColor(1)],
    ],
  );
  assert.deepEqual(byId.get("val_accuracy")!.data, [[2], [75], [null]], "accuracy in percent, only where evaluated");
  assert.ok(
    byId.get("val_loss")!.lines.every((l) => l.points),
    "sparse evaluation lines mark their points",
  );
  assert.deepEqual(byId.get("grad_norm")!.data, [[3], [null], [0.5]], "only logged norms");
  const memory = byId.get("memory")!;
  assert.deepEqual(
    memory.lines.map((l) => [l.label, l.color, l.dash ?? null]),
    [
      ["a/version_0 held", runColor(0), null],
      ["a/version_0 peak so far", runColor(0), [6, 4]],
      ["b/version_0 held", runColor(1), null],
      ["b/version_0 peak so far", runColor(1), [6, 4]],
    ],
  );
  assert.deepEqual(
    memory.data,
    [
      [1, 2],
      [1, 1],
      [2, 4],
      [null, null],
      [null, null],
    ],
    "MiB",
  );
  assert.deepEqual(byId.get("data_wait")!.data[1], [500, 500, null], "milliseconds");
  assert.deepEqual(plotsOf([runData("empty", [])]), [], "a run without metrics has no plots");
});

test("tables: flattened fields, the fields that differ between configs, formatted values", () => {
  const a = flatten({ model: { kind: "mlp", hidden: [64] }, optimizer: { lr: 0.1 }, seed: 0 });
  const b = flatten({ model: { kind: "mlp", hidden: [128] }, optimizer: { lr: 0.1 } });
  assert.deepEqual(
    [...a.entries()],
    [
      ["model.kind", "mlp"],
      ["model.hidden", "[64]"],
      ["optimizer.lr", 0.1],
      ["seed", 0],
    ],
  );
  assert.deepEqual(differingFields([a, b]), ["model.hidden", "seed"]);
  assert.equal(formatField("peak_bytes.total", 3 * 2 ** 20), "3.00 MiB");
  assert.equal(formatField("samples_per_s", 1234.5678), "1235");
  assert.equal(formatField("steps", 12000), "12,000");
  assert.equal(formatField("eval.loss", 0.123456), "0.1235");
  assert.equal(formatField("stopped", null), "—");
});
