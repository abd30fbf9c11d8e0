import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { assertClose, F32 } from "../helpers/compare.js";
import type { ZeroArgs, ZeroResult } from "./zero_rank.js";

async function outcomes(size: number, args: ZeroArgs) {
  const job = startThreads({ size, module: new URL("./zero_rank.js", import.meta.url), args, onLine: () => {}, threadsPerWorker: 1 });
  return job.done;
}

async function train(size: number, args: ZeroArgs): Promise<ZeroResult[]> {
  return (await outcomes(size, args)).map((o) => {
    assert.ok(o.ok, o.ok ? "" : o.error.stack);
    return o.result as ZeroResult;
  });
}

const args = { steps: 6, globalBatch: 12, accumulate: 1 };

test("Lion, LAMB and Muon under DDP on 2 threads give one process's parameters within 1e-5 after 6 steps (clipping, two groups); Lion under ZeRO-1 and ZeRO-2 too, with half the state per rank", {
  timeout: 180_000,
}, async () => {
  for (const optimizer of ["lion", "lamb", "muon"] as const) {
    const [single] = await train(1, { ...args, zero: 0, optimizer });
    const layouts = optimizer === "lion" ? ([0, 1, 2] as const) : ([0] as const);
    for (const zero of layouts) {
      const ranks = await train(2, { ...args, zero, optimizer });
      for (const [r, result] of ranks.entries()) {
        result.params.forEach((p, i) => assertClose(p, single!.params[i]!, F32, `${optimizer} zero ${zero} rank ${r} parameter ${i}`));
      }
      if (zero > 0) assert.ok(ranks[0]!.stateElements < single!.stateElements * 0.6, `${optimizer} zero ${zero}: each rank keeps about half the state`);
    }
  }
});

test("LAMB and Muon refuse ZeRO's 1-D shards with an error naming the optimizer", { timeout: 60_000 }, async () => {
  for (const optimizer of ["lamb", "muon"] as const) {
    for (const o of await outcomes(2, { ...args, steps: 1, zero: 1, optimizer })) {
      assert.ok(!o.ok, `${optimizer} under ZeRO-1 must fail`);
      const name = optimizer === "lamb" ? "LAMB" : "Muon";
      assert.match(o.error.message, new RegExp(`ZeRO: ${name} updates each parameter whole`));
    }
  }
});
