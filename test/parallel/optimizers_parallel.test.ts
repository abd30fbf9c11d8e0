import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { assertClose, BF16, F32 } from "../helpers/compare.js";
import type { ZeroArgs, ZeroResult } from "./zero_rank.js";

async function train(size: number, args: ZeroArgs): Promise<ZeroResult[]> {
  const job = startThreads({ size, module: new URL("./zero_rank.js", import.meta.url), args, onLine: () => {}, threadsPerWorker: 1 });
  return (await job.done).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as ZeroResult;
  });
}

/** Every rank's parameters, bit for bit the same as rank 0's: the ranks never diverge. */
function assertRanksAgree(ranks: ZeroResult[], what: string): void {
  for (const [r, result] of ranks.entries()) assert.deepEqual(result.params, ranks[0]!.params, `${what}: rank ${r} diverged from rank 0`);
}

// Two micro-batches per step. The harness's small buckets make three units, each with a Muon
// matrix (or a LAMB tensor) that spans two ranks' chunks at 2 and at 3 ranks (uneven chunks):
// the slices whose update needs the other ranks' part.
const args = { steps: 6, globalBatch: 12, accumulate: 2 };

test("Lion, LAMB and Muon under DDP on 2 threads give one process's parameters within 1e-5 after 6 steps (accumulation, clipping, two groups), every rank bitwise the same; Lion under ZeRO-1 and ZeRO-2 too, with half the state per rank", {
  timeout: 180_000,
}, async () => {
  for (const optimizer of ["lion", "lamb", "muon"] as const) {
    const [single] = await train(1, { ...args, zero: 0, optimizer });
    const layouts = optimizer === "lion" ? ([0, 1, 2] as const) : ([0] as const);
    for (const zero of layouts) {
      const ranks = await train(2, { ...args, zero, optimizer });
      ranks[0]!.params.forEach((p, i) => assertClose(p, single!.params[i]!, F32, `${optimizer} zero ${zero} parameter ${i}`));
      assertRanksAgree(ranks, `${optimizer} zero ${zero}`);
      if (zero > 0) assert.ok(ranks[0]!.stateElements < single!.stateElements * 0.6, `${optimizer} zero ${zero}: each rank keeps about half the state`);
    }
  }
});

test("LAMB and Muon under ZeRO-1, 2 and 3 on 2 and 3 ranks equal one process within 1e-5 after 6 steps (accumulation, clipping, two groups), every rank bitwise the same, with a share of the state per rank", {
  timeout: 240_000,
}, async () => {
  for (const optimizer of ["lamb", "muon"] as const) {
    const [single] = await train(1, { ...args, zero: 0, optimizer });
    for (const size of [2, 3]) {
      for (const zero of [1, 2, 3] as const) {
        const what = `${optimizer} zero ${zero} on ${size} ranks`;
        const ranks = await train(size, { ...args, zero, optimizer });
        assert.ok(ranks[0]!.units >= 3, `${what}: several units`);
        ranks[0]!.params.forEach((p, i) => assertClose(p, single!.params[i]!, F32, `${what}: parameter ${i}`));
        assertRanksAgree(ranks, what);
        for (const r of ranks) assert.ok(r.stateElements < (single!.stateElements * 1.2) / size, `${what}: each rank keeps about 1/${size} of the state`);
      }
    }
  }
});

test("Muon under ZeRO-1 all-gathers only the units holding its matrices, once a step (their chunk × ranks elements); LAMB all-gathers nothing beyond AdamW's parameter gathers", {
  timeout: 60_000,
}, async () => {
  for (const size of [2, 3]) {
    const [adamw] = await train(size, { ...args, zero: 1, optimizer: "adamw" });
    const [lamb] = await train(size, { ...args, zero: 1, optimizer: "lamb" });
    const [muon] = await train(size, { ...args, zero: 1, optimizer: "muon" });
    // Unit 0 (the first backward makes final) is the output layer, which Muon hands to AdamW.
    const muonUnits = muon!.unitSizes.slice(1).reduce((a, b) => a + b, 0);
    assert.equal(lamb!.gathered, adamw!.gathered, `LAMB on ${size} ranks`);
    assert.equal(muon!.gathered - adamw!.gathered, args.steps * muonUnits, `Muon on ${size} ranks: one gather of units 1 and 2 per step`);
  }
});

test("Muon with bf16 Newton–Schulz under ZeRO-2 on 3 ranks equals one process's bf16 run within bf16 rounding, ranks bitwise the same", {
  timeout: 60_000,
}, async () => {
  const [single] = await train(1, { ...args, zero: 0, optimizer: "muon", nsBf16: true });
  const ranks = await train(3, { ...args, zero: 2, optimizer: "muon", nsBf16: true });
  ranks[0]!.params.forEach((p, i) => assertClose(p, single!.params[i]!, BF16, `bf16 Muon parameter ${i}`));
  assertRanksAgree(ranks, "bf16 Muon zero 2");
});

test("LAMB and Muon checkpoints under ZeRO-1: saved on 2 ranks after 3 steps, resumed on 2 (bitwise) and on 3 ranks at ZeRO-2 (within 1e-5), equal the uninterrupted run", {
  timeout: 120_000,
}, async () => {
  for (const optimizer of ["lamb", "muon"] as const) {
    const first = await train(2, { ...args, zero: 1, optimizer, saveAfter: 3 });
    const resume = { states: first.map((r) => r.saved!), step: 3 };
    assert.ok(Object.keys(resume.states[0]!.optimizer).length > 0, `${optimizer}: the checkpoint holds optimizer state`);
    const same = await train(2, { ...args, zero: 1, optimizer, resume });
    same.forEach((r) => assert.deepEqual(r.params, first[0]!.params, `${optimizer}: the same layout continues bitwise`));
    const resharded = await train(3, { ...args, zero: 2, optimizer, resume });
    resharded[0]!.params.forEach((p, i) => assertClose(p, first[0]!.params[i]!, F32, `${optimizer} resumed on 3 ranks: parameter ${i}`));
  }
});
