// Runs a rank module (a file of test/parallel exporting run(group, args), as startThreads takes
// it) under mpirun on n local ranks, through mpi_worker.js's "module" scenario, and returns each
// rank's result in rank order. Results travel through files: mpirun splits long output lines.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));

/**
 * `module` is a file name in this folder; args reach its run() as JSON. `launch` replaces the
 * local launch's mpirun arguments (a test bed's, whose ranks get the environment through -x).
 */
export function runUnderMpi<R>(n: number, module: string, args: unknown, timeoutMs = 20_000, launch?: string[]): R[] {
  const out = mkdtempSync(join(tmpdir(), "turbine-mpi-module-"));
  try {
    const r = spawnSync(
      "mpirun",
      [
        ...(launch
          ? [...launch, ...["TURBINE_RANK_MODULE", "TURBINE_RANK_ARGS", "TURBINE_RANK_OUT"].flatMap((v) => ["-x", v])]
          : ["--allow-run-as-root", "--oversubscribe", "-n", String(n)]),
        process.execPath,
        join(here, "mpi_worker.js"),
        "module",
        String(timeoutMs),
      ],
      {
        encoding: "utf8",
        timeout: 240_000,
        env: { ...process.env, TURBINE_RANK_MODULE: module, TURBINE_RANK_ARGS: JSON.stringify(args), TURBINE_RANK_OUT: out },
      },
    );
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    return Array.from({ length: n }, (_, rank) => JSON.parse(readFileSync(join(out, `rank-${rank}.json`), "utf8")) as R);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
