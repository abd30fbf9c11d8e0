import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../../src/parallel/threads/spawn.js";
import { assertRelative } from "../../helpers/compare.js";
import { missingMpi, skipIfMissing } from "../../helpers/prerequisites.js";
import { runUnderMpi } from "../mpi_module.js";
import { AdamW } from "../../../src/optim/adamw.js";
import { readerOfStates } from "../../../src/parallel/state.js";
import { SingleProcess } from "../../../src/parallel/strategy.js";
import { tensor } from "../../../src/tensor/create.js";
import { modelOf, type PipelineCase, type PipelineCaseResult, type PlainState } from "./pipeline_rank.js";

async function onThreads(size: number, cases: PipelineCase[], timeoutMs?: number): Promise<PipelineCaseResult[][]> {
  const job = startThreads({
    size,
    module: new URL("./pipeline_rank.js", import.meta.url),
    args: { cases },
    onLine: () => {},
    ...(timeoutMs ? { timeoutMs } : {}),
  });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as PipelineCaseResult[];
  });
}

/** Every rank's losses and norms equal the one-process run's, and the stages' gradients and weights together cover the model and equal it. */
function checkEqual(results: PipelineCaseResult[][], index: number, rtol: number, what: string): void {
  const names = new Set<string>();
  for (const [rank, perCase] of results.entries()) {
    const r = perCase[index]!;
    assert.equal(r.losses.length, r.refLosses.length);
    assertRelative(r.losses, r.refLosses, rtol, `${what} rank ${rank} losses`);
    assertRelative(r.norms, r.refNorms, rtol, `${what} rank ${rank} gradient norms`);
    for (const [name, [mine, ref]] of Object.entries(r.grads)) {
      assertRelative(mine, ref, rtol, `${what} rank ${rank} gradient of ${name}`);
      // Weights: AdamW divides by √v, which magnifies round-off in tiny gradients (a bias starting at 0): 10× looser.
      assertRelative(r.params[name]![0], r.params[name]![1], 10 * rtol, `${what} rank ${rank} ${name} after the steps`);
      names.add(name);
    }
  }
  // 6 blocks of 12 tensors, 2 embeddings, the final norm's 2 (tied head).
  assert.equal(names.size, 6 * 12 + 4, `${what}: the stages train every parameter`);
}

/**
 * An uneven cut sums the batch in a different order (weighted micro-batch means against one mean).
 * Measured on Zen 3 (AVX2 kernels) after 3 AdamW steps: block 2's attention gradients 1.24e-5 and
 * 1.05e-5 from the one-process run, the same bits for 1f1b and interleaved (which cut alike), so
 * it is that order, not a schedule; every other tensor within 2e-6, and the losses 5e-8. On Zen 5
 * all were within 1e-5. 3e-5 is 2.4× the largest; weighting micro-batches 1/m instead of by rows
 * moves the losses by 7.9e-4.
 */
const UNEVEN_RTOL = 3e-5;

const whole = (results: PipelineCaseResult[][]): number => results[0]![0]!.stageBytes[2];

const schedules = [
  { schedule: "gpipe", microBatches: 4 },
  { schedule: "1f1b", microBatches: 4 },
  { schedule: "interleaved", microBatches: 4, virtualStages: 2 },
] as const;

test("pipeline on 2 and 4 threads: each schedule gives the one-process loss, gradient norm and gradients within 1e-5 (weights 1e-4) after 20 AdamW steps", {
  timeout: 240_000,
}, async () => {
  for (const p of [2, 4]) {
    const cases: PipelineCase[] = schedules.map((s) => ({ ...s, pipeline: p, steps: 20 }));
    const results = await onThreads(p, cases);
    cases.forEach((c, i) => checkEqual(results, i, 1e-5, `${c.schedule} p=${p}`));
  }
});

test("pipeline: any m ≥ 1 runs (m = 1 and 3 < p = 4, m = 2 with 4 stages interleaved), also with DDP across two pipelines (d=2 × p=2)", {
  timeout: 240_000,
}, async () => {
  const few: PipelineCase[] = [
    { pipeline: 4, schedule: "1f1b", microBatches: 1, steps: 3 },
    { pipeline: 4, schedule: "gpipe", microBatches: 1, steps: 3 },
    { pipeline: 4, schedule: "1f1b", microBatches: 3, batch: 6, steps: 3 },
    { pipeline: 4, schedule: "interleaved", microBatches: 2, virtualStages: 2, steps: 3 },
  ];
  const results = await onThreads(4, few);
  few.forEach((c, i) => checkEqual(results, i, 1e-5, `${c.schedule} p=4 m=${c.microBatches}`));
  const dp: PipelineCase[] = [{ pipeline: 2, schedule: "1f1b", microBatches: 2, steps: 5 }];
  checkEqual(await onThreads(4, dp), 0, 1e-5, "d=2 × p=2");
});

test("pipeline: micro-batches that do not divide the batch (10 rows in 4), and a short last batch of fewer rows than m, give the one-process run", {
  timeout: 240_000,
}, async () => {
  const uneven: PipelineCase[] = [
    { pipeline: 2, schedule: "1f1b", microBatches: 4, batch: 10, lastBatch: 3, steps: 3 },
    { pipeline: 2, schedule: "gpipe", microBatches: 3, batch: 8, lastBatch: 2, steps: 3 },
    { pipeline: 2, schedule: "interleaved", microBatches: 4, virtualStages: 2, batch: 10, lastBatch: 3, steps: 3 },
  ];
  const results = await onThreads(2, uneven);
  uneven.forEach((c, i) => checkEqual(results, i, UNEVEN_RTOL, `${c.schedule} p=2 m=${c.microBatches} rows ${c.batch} then ${c.lastBatch}`));
});

test("pipeline with accumulation, activation checkpointing and an untied head equals one process; with bf16 autocast within bf16's rounding", {
  timeout: 120_000,
}, async () => {
  const cases: PipelineCase[] = [
    { pipeline: 2, schedule: "1f1b", microBatches: 2, steps: 5, accumulate: 2, checkpoint: true, tiedHead: false },
    { pipeline: 2, schedule: "1f1b", microBatches: 2, steps: 5, precision: "bfloat16" },
  ];
  const results = await onThreads(2, cases);
  for (const [rank, perCase] of results.entries()) assert.equal(Object.keys(perCase[0]!.grads).length > 0, true, `rank ${rank}`);
  const untied = results.map((r) => r[0]!);
  const names = new Set(untied.flatMap((r) => Object.keys(r.grads)));
  assert.equal(names.size, 6 * 12 + 5, "the untied head is trained too");
  for (const [rank, r] of untied.entries()) {
    assertRelative(r.losses, r.refLosses, 1e-5, `accumulate+checkpoint rank ${rank} losses`);
    for (const [name, [mine, ref]] of Object.entries(r.grads)) assertRelative(mine, ref, 1e-5, `accumulate+checkpoint rank ${rank} ${name}`);
  }
  for (const [rank, perCase] of results.entries()) assertRelative(perCase[1]!.losses, perCase[1]!.refLosses, 2e-2, `bf16 rank ${rank} losses`);
});

test("pipeline with ZeRO-1 on the data dimension (d=2 × p=2, eager and deferred): the one-process losses, clipped norms and weights after 5 AdamW steps; its checkpoint reloads into one process", {
  timeout: 180_000,
}, async () => {
  const cases: PipelineCase[] = [
    { pipeline: 2, schedule: "1f1b", microBatches: 2, steps: 5, zero: true },
    { pipeline: 2, schedule: "gpipe", microBatches: 2, steps: 5, zero: true, deferred: true, accumulate: 2 },
  ];
  const results = await onThreads(4, cases);
  cases.forEach((c, i) => {
    const what = `zero 1 ${c.schedule}${c.deferred ? " deferred" : ""}`;
    const names = new Set<string>();
    const final = new Map<string, number[]>();
    for (const [rank, perCase] of results.entries()) {
      const r = perCase[i]!;
      assertRelative(r.losses, r.refLosses, 1e-5, `${what} rank ${rank} losses`);
      assertRelative(r.norms, r.refNorms, 1e-5, `${what} rank ${rank} clipped norms`);
      // Weights after AdamW: 10× looser, as above (√v magnifies round-off in tiny gradients).
      for (const [name, [mine, ref]] of Object.entries(r.params)) {
        assertRelative(mine, ref, 1e-4, `${what} rank ${rank} ${name} after the steps`);
        names.add(name);
        final.set(name, ref);
      }
    }
    assert.equal(names.size, 6 * 12 + 4, `${what}: the stages train every parameter`);
    // Every rank's pieces together: one process loads them, weights and AdamW state.
    const states = results.map((perCase) => {
      const saved = perCase[i]!.saved!;
      const pieces = (plain: PlainState["model"]) =>
        Object.fromEntries(Object.entries(plain).map(([name, p]) => [name, { shape: p.shape, start: p.start, data: tensor(p.data) }]));
      return { ...saved, model: pieces(saved.model), optimizer: pieces(saved.optimizer) };
    });
    const model = modelOf(c);
    const optimizer = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.1 });
    new SingleProcess(model).loadStateDict(readerOfStates(states), optimizer);
    for (const [name, p] of model.namedParameters()) {
      assertRelative(p.toArray(), final.get(name)!, 1e-4, `${what} reloaded ${name}`);
      const state = optimizer.paramState(p);
      assert.equal(state?.step, 5, `${what} reloaded ${name}: AdamW's step`);
      assert.ok(state && Object.keys(state.tensors).length === 2, `${what} reloaded ${name}: AdamW's two moments`);
    }
  });
});

test("pipeline of a deferred model on 2 and 4 threads: each rank materialises only its stage (tracker), with the one-process loss and gradients after 5 steps", {
  timeout: 120_000,
}, async () => {
  for (const p of [2, 4]) {
    const cases: PipelineCase[] = [{ pipeline: p, schedule: "1f1b", microBatches: 2, steps: 5, deferred: true }];
    const results = await onThreads(p, cases);
    checkEqual(results, 0, 1e-5, `deferred p=${p}`);
    let total = 0;
    for (const [rank, [r]] of results.entries()) {
      const [measured, stage, model] = r!.stageBytes;
      assert.equal(measured, stage, `p=${p} rank ${rank}: the tracker's parameter bytes are its stage's tensors'`);
      assert.ok(stage < model, `p=${p} rank ${rank}: a stage (${stage} B) is less than the model (${model} B)`);
      total += stage;
    }
    // Stages share only the tied embedding: together they hold the model once, plus that copy.
    assert.ok(total < whole(results) * 1.5, `p=${p}: the stages hold ${total} B of a ${whole(results)} B model`);
  }
});

test("1f1b's peak activation memory per stage stays at p micro-batches' worth while gpipe's grows with m; a step sends each link's header once (m + 1 sends a stage)", {
  timeout: 120_000,
}, async () => {
  const memoryCase = (schedule: "gpipe" | "1f1b", m: number): PipelineCase => ({
    pipeline: 2,
    schedule,
    microBatches: m,
    stageLayers: [4, 4],
    batch: 8 * m,
    steps: 1,
    memoryOnly: true,
  });
  // The same micro-batch size (8 rows) and cut throughout: m = 1 measures one micro-batch's worth.
  const cases = [memoryCase("1f1b", 1), memoryCase("1f1b", 8), memoryCase("gpipe", 8)];
  const results = await onThreads(2, cases);
  for (const [stage, r] of results.entries()) {
    const [one, oneF1B, gpipe] = r.map((x) => x.peakActivation) as [number, number, number];
    assert.ok(oneF1B <= 2 * one, `stage ${stage}: 1f1b m=8 peak ${oneF1B} B > 2 × one micro-batch's ${one} B`);
    assert.ok(gpipe >= 4 * one, `stage ${stage}: gpipe m=8 peak ${gpipe} B < 4 × one micro-batch's ${one} B`);
    // Stage 0 sends m activations, stage 1 m gradients, on one link each: a header per message
    // (2m sends) would make every send wait for its receiver.
    assert.deepEqual(
      r.map((x) => x.sends),
      [2, 9, 9],
      `stage ${stage}: sends for 1f1b m=1, 1f1b m=8, gpipe m=8`,
    );
  }
});

test("a stage that stalls makes every stage fail within the timeout, naming the op and the ranks", { timeout: 60_000 }, async () => {
  const timeoutMs = 1500;
  const started = Date.now();
  const job = startThreads({
    size: 4,
    module: new URL("./pipeline_rank.js", import.meta.url),
    args: { cases: [{ pipeline: 4, schedule: "1f1b", microBatches: 4, steps: 1, stall: { rank: 3, ms: 4 * timeoutMs } }] },
    onLine: () => {},
    timeoutMs,
  });
  const outcomes = await job.done;
  for (const [rank, o] of outcomes.entries()) {
    assert.ok(!o.ok, `rank ${rank} should fail`);
    if (rank !== 3) assert.match(o.error.message, /(send|recv) on rank \d \(peer rank \d\)/, `rank ${rank}`);
  }
  assert.ok(Date.now() - started < 4 * timeoutMs + 10_000, `took ${Date.now() - started} ms`);
});

test("pipeline on 2 mpi ranks: each schedule gives the one-process loss and gradients within 1e-5 after 20 AdamW steps (1f1b also on 10 rows in 4, then a short last batch)", {
  skip: skipIfMissing(missingMpi()),
  timeout: 240_000,
}, () => {
  const cases: PipelineCase[] = [
    ...schedules.map((s) => ({ ...s, pipeline: 2, steps: 20 })),
    { pipeline: 2, schedule: "1f1b", microBatches: 4, batch: 10, lastBatch: 3, steps: 3 },
  ];
  const results = runUnderMpi<PipelineCaseResult[]>(2, "pipeline/pipeline_rank.js", { cases }, 30_000);
  cases.forEach((c, i) => checkEqual(results, i, c.lastBatch ? UNEVEN_RTOL : 1e-5, `mpi ${c.schedule} m=${c.microBatches}`));
});
