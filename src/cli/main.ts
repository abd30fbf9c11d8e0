#!/usr/bin/env node
/**
 * The `turbine` command: a thin layer over the library.
 *
 *   turbine train [config|name] [--list] [--set a.b=v] [--resume DIR] [--json]
 *   turbine sample --checkpoint DIR [--prompt TEXT] [--tokens N] [--temperature T] [--top-k K]
 *   turbine bench [--workloads mlp,cnn,gpt] [--precision f32|bf16] [--json] [--time-to-quality] [--ops W]
 *   turbine data prepare <text> <out>
 *   turbine report RUN_DIR... [--out report.html]
 *   turbine search CONFIG --space SPACE.yaml [--trials N] [--scheduler random|asha|hyperband|pbt] [--parallel P]
 *   turbine launch [--nproc-per-node N] [--nnodes M --hostfile F] [--backend threads|mpi] -- COMMAND ...
 *
 * Exit codes: 0 done, 2 bad usage or config, 1 a run that failed for a reason it names, 70 a bug
 * (printed with its stack).
 */
import { CommanderError } from "commander";

import { mpiLaunchRank, prefixProcessOutput } from "../parallel/rank_output.js";
import { describeError, exitCodeFor } from "./errors.js";
import { exportMpiRankEnvironment } from "./rank_env.js";
import { turbineProgram } from "./program.js";

// A rank started by `turbine launch --backend mpi` tags its lines, since mpirun merges all ranks' output.
const mpiRank = mpiLaunchRank();
if (mpiRank !== null) {
  prefixProcessOutput(mpiRank);
  exportMpiRankEnvironment();
}

try {
  await turbineProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`turbine: ${describeError(error)}\n`);
  process.exit(exitCodeFor(error));
}
