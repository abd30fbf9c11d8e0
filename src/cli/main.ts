#!/usr/bin/env node
/**
 * The `turbine` command: a thin layer over the library.
 *
 *   turbine train [config] [--set a.b=v] [--resume DIR] [--json]
 *   turbine sample --checkpoint DIR [--prompt TEXT] [--tokens N] [--temperature T] [--top-k K]
 *   turbine bench [--workloads mlp,cnn,gpt] [--precision f32|bf16] [--json] [--time-to-quality] [--ops W]
 *   turbine data prepare <text> <out>
 *   turbine launch -n N [--backend threads|mpi] [--hostfile F] [--threads-per-worker T] -- train CONFIG
 */
import { Command, CommanderError } from "commander";

import { mpiLaunchRank, prefixProcessOutput } from "../parallel/rank_output.js";
import { registerBench } from "./bench.js";
import { registerData } from "./data.js";
import { registerLaunch } from "./launch.js";
import { registerSample } from "./sample.js";
import { registerTrain } from "./train.js";
import { exitCodeFor } from "./errors.js";

// A rank started by `turbine launch --backend mpi` tags its lines, since mpirun merges all ranks' output.
const mpiRank = mpiLaunchRank();
if (mpiRank !== null) prefixProcessOutput(mpiRank);

const program = new Command()
  .name("turbine")
  .description("train neural networks fast on Node.js")
  .showHelpAfterError()
  .exitOverride();

registerTrain(program);
registerSample(program);
registerBench(program);
registerData(program);
registerLaunch(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  const code = exitCodeFor(error);
  process.stderr.write(`turbine: ${code === 70 ? (error as Error).stack : (error as Error).message}\n`);
  process.exit(code);
}
