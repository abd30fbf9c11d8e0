import assert from "node:assert/strict";
import { test } from "node:test";

import { startThreads } from "../../src/parallel/threads/spawn.js";
import { createTestbed, testbedUnavailable } from "../../testbed/netns.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";
import type { HierarchicalArgs, HierarchicalRun } from "./hierarchical_rank.js";
import { runUnderMpi } from "./mpi_module.js";

function check(runs: HierarchicalRun[]): void {
  for (const run of runs) {
    assert.ok(run.hierarchical, "2 machines × 2 ranks go hierarchical by themselves");
    for (const { op, flat, byMachine } of run.results) assert.deepEqual(byMachine, flat, `${op}: by machine equals flat`);
    assert.equal(run.oneMachine, false, "one machine stays flat");
    assert.equal(run.forcedOff, false, "parallel.hierarchical false stays flat");
    assert.match(run.unevenError, /every machine needs the same number of ranks; got 1, 3 on 2 machines/);
  }
  assert.deepEqual(runs[1]!.results, runs[0]!.results, "every rank holds the same result");
}

test("hierarchical all-reduce on 2 machines × 2 ranks (threads, machine identity given) equals the flat one: sum, mean, max, async", {
  timeout: 60_000,
}, async () => {
  // 1001 elements do not split evenly over a machine's 2 ranks (padding); a chunk all-reduced
  // with the wrong peers, a missing all-gather or a mean divided twice all differ from flat.
  const args: HierarchicalArgs = { machines: ["a", "a", "b", "b"], size: 1001 };
  const job = startThreads({ size: 4, module: new URL("./hierarchical_rank.js", import.meta.url), args, onLine: () => {}, threadsPerWorker: 1 });
  check(
    (await job.done).map((o) => {
      assert.ok(o.ok, o.ok ? "" : o.error.stack);
      return o.result as HierarchicalRun;
    }),
  );
});

test("hierarchical all-reduce between 2 network namespaces × 2 ranks (mpi, machines found by themselves) equals the flat one", {
  skip: skipIfMissing(missingMpi()) || skipIfMissing(testbedUnavailable()),
  timeout: 120_000,
}, () => {
  const bed = createTestbed({ hosts: 2 });
  try {
    check(runUnderMpi<HierarchicalRun>(4, "hierarchical_rank.js", { machines: null, size: 1001 }, 20_000, bed.mpirunArgs(2)));
  } finally {
    bed.destroy();
  }
});
