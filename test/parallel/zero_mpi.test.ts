// ZeRO over the mpi backend: the same equivalence with DDP as zero.test.ts, under mpirun.
import assert from "node:assert/strict";
import { test } from "node:test";

import { assertClose, F32 } from "../helpers/compare.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";
import { runUnderMpi } from "./mpi_module.js";
import { assertZeroMatchesDdp } from "./zero_check.js";
import type { ZeroArgs, ZeroResult } from "./zero_rank.js";

const skip = skipIfMissing(missingMpi());

test("mpi: ZeRO 1, 2 and 3 over 2 and 3 ranks give DDP's parameters within 1e-5 after 20 AdamW steps (clipping, accumulation 2)", {
  skip,
  timeout: 600_000,
}, async () => {
  const train = (size: number, args: ZeroArgs): ZeroResult[] => runUnderMpi<ZeroResult>(size, "zero_rank.js", args, 60_000);
  for (const size of [2, 3]) await assertZeroMatchesDdp(train, size, "mpi");
});

test("mpi: LAMB and Muon under ZeRO-2 on 3 ranks equal one process within 1e-5 after 6 steps, ranks bitwise the same", {
  skip,
  timeout: 300_000,
}, () => {
  const train = (size: number, args: ZeroArgs): ZeroResult[] => runUnderMpi<ZeroResult>(size, "zero_rank.js", args, 60_000);
  const args = { steps: 6, globalBatch: 12, accumulate: 2 };
  for (const optimizer of ["lamb", "muon"] as const) {
    const [single] = train(1, { ...args, zero: 0, optimizer });
    const ranks = train(3, { ...args, zero: 2, optimizer });
    for (const [r, result] of ranks.entries()) assert.deepEqual(result.params, ranks[0]!.params, `mpi ${optimizer}: rank ${r} diverged from rank 0`);
    ranks[0]!.params.forEach((p, i) => assertClose(p, single!.params[i]!, F32, `mpi ${optimizer} zero 2: parameter ${i}`));
  }
});
