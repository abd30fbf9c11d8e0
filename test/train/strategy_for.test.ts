import assert from "node:assert/strict";
import { test } from "node:test";

import { parseConfig } from "../../src/train/config_file.js";
import { ConfigError } from "../../src/train/config_file.js";
import { startThreads } from "../../src/parallel/threads/spawn.js";
import { checkLayout, meshFor } from "../../src/train/strategy_for.js";
import type { LayoutCase } from "./strategy_for_rank.js";

const config = (parallel: Record<string, unknown>) => parseConfig({ model: { kind: "mlp" }, data: { kind: "fashion-mnist" }, parallel }, "test.json");

test("meshFor: one process runs the default layout; a pipeline or tensor layout without ranks is a config error naming the numbers", () => {
  assert.equal(meshFor(config({}), undefined), null);
  assert.throws(
    () => meshFor(config({ pipeline: 2 }), undefined),
    (e: unknown) =>
      e instanceof ConfigError && /tensor 1 × pipeline 2 = 2 does not divide the 1 ranks of the job \(one process: turbine launch -n N/.test(e.message),
  );
  assert.throws(() => config({ pipeline: 0 }), /parallel\.pipeline/);
  assert.throws(() => config({ schedule: "zigzag" }), /parallel\.schedule/);
});

test("modelFor on 4 ranks: expert parallelism without experts, experts that do not divide, and sequence parallelism with pipeline stages are config errors naming the values", {
  timeout: 60_000,
}, async () => {
  const gpt = (moe?: object): Record<string, unknown> => ({ kind: "gpt", context: 8, layers: 1, heads: 2, width: 8, ...(moe ? { moe } : {}) });
  const cases: LayoutCase[] = [
    { model: { kind: "mlp" }, parallel: { expert: 2 } },
    { model: gpt({ experts: 3 }), parallel: { expert: 2 } },
    { model: gpt(), parallel: { tensor: 2, pipeline: 2, sequenceParallel: true } },
    { model: gpt({ experts: 4 }), parallel: { expert: 2 } },
    { model: gpt(), parallel: { tensor: 2, pipeline: 2 } },
  ];
  const job = startThreads({ size: 4, module: new URL("./strategy_for_rank.js", import.meta.url), args: { cases }, onLine: () => {} });
  for (const outcome of await job.done) {
    assert.ok(outcome.ok, outcome.ok ? "" : outcome.error.stack);
    const [noExperts, indivisible, sequence, experts, threeD] = outcome.result as (string | null)[];
    assert.match(noExperts!, /parallel.expert 2 shards the experts of a gpt with model.moe/);
    assert.match(indivisible!, /model.moe.experts 3 must divide by parallel.expert 2/);
    assert.match(sequence!, /parallel.sequenceParallel does not combine with parallel.pipeline 2/);
    assert.equal(experts, null);
    assert.equal(threeD, null);
  }
});

test("strategyFor on 4 ranks: a hierarchy forced over machines of unequal ranks (1 and 3) is a config error naming them; over equal ones (2 and 2) it builds", {
  timeout: 60_000,
}, async () => {
  const mlpCase = (hosts: string[]): LayoutCase => ({ model: { kind: "mlp" }, parallel: { hierarchical: true }, hosts });
  for (const [hosts, expected] of [
    [["a", "b", "b", "b"], /parallel.hierarchical: every machine needs the same number of ranks; got 1, 3 on 2 machines/],
    [["a", "a", "b", "b"], null],
  ] as const) {
    const job = startThreads({ size: 4, module: new URL("./strategy_for_rank.js", import.meta.url), args: { cases: [mlpCase([...hosts])] }, onLine: () => {} });
    for (const outcome of await job.done) {
      assert.ok(outcome.ok, outcome.ok ? "" : outcome.error.stack);
      const [message] = outcome.result as (string | null)[];
      if (expected) assert.match(message!, expected);
      else assert.equal(message, null);
    }
  }
});

test("checkLayout: a pipeline runs with ZeRO-1 on the data dimension; ZeRO 2 and 3, and LAMB or Muon with ZeRO-1, are config errors naming the values", () => {
  const gpt = (zero: number, optimizer = "adamw") =>
    parseConfig(
      {
        model: { kind: "gpt", layers: 2, heads: 2, width: 16, context: 8 },
        data: { kind: "text" },
        optimizer: { kind: optimizer },
        parallel: { pipeline: 2, zero },
      },
      "test.json",
    );
  assert.deepEqual(checkLayout(gpt(1), 4), { data: 2, tensor: 1, pipeline: 2, expert: 1 });
  for (const zero of [2, 3])
    assert.throws(
      () => checkLayout(gpt(zero), 4),
      (e) => e instanceof ConfigError && new RegExp(`parallel.zero ${zero} with parallel.pipeline 2`).test(e.message),
    );
  for (const kind of ["lamb", "muon"])
    assert.throws(
      () => checkLayout(gpt(1, kind), 4),
      (e) => e instanceof ConfigError && new RegExp(`optimizer.kind ${kind} .*parallel.zero 1 and parallel.pipeline 2`).test(e.message),
    );
});
