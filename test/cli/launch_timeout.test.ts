import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { OPEN_MPI_DAEMON_OPTIONS } from "../../src/parallel/mpi/daemon_options.js";
import { missingMpi, skipIfMissing } from "../helpers/prerequisites.js";

// In CI (TURBINE_CI=1) a missing Open MPI fails instead of skipping this test.
const noMpi = skipIfMissing(missingMpi());

test("an mpi rank's collectives time out after launch's --timeout (TURBINE_TIMEOUT_S)", { skip: noMpi, timeout: 60_000 }, () => {
  const rank = fileURLToPath(new URL("./timeout_rank.js", import.meta.url));
  const r = spawnSync("mpirun", ["--allow-run-as-root", ...OPEN_MPI_DAEMON_OPTIONS, "-n", "1", process.execPath, rank], {
    encoding: "utf8",
    env: { ...process.env, TURBINE_DIST_BACKEND: "mpi", TURBINE_TIMEOUT_S: "7" },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), { timeoutMs: 7000 });
});
