// ZeRO over the mpi backend: the same equivalence with DDP as zero.test.ts, under mpirun.
import { test } from "node:test";

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
