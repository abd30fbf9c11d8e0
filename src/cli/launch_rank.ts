/**
 * The job module of `turbine launch` on the threads backend: each worker runs the `turbine`
 * command given after `--` through the same program as the CLI, with torchrun's RANK,
 * WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE in its environment (a worker's own copy); the
 * train command finds its rank's group with initProcessGroup().
 */
import { CommanderError } from "commander";

import type { ProcessGroup } from "../parallel/process_group.js";
import { describeError, exitCodeFor } from "./errors.js";
import { turbineProgram } from "./program.js";
import { rankEnvironment } from "./rank_env.js";

/** How a rank's command ended: its exit code and, when it failed, what the CLI would print. */
export interface RankResult {
  code: number;
  message?: string;
}

/** Runs one rank's command line, e.g. ["train", "examples/mlp.json"], with the launcher's extra environment. */
export async function run(group: ProcessGroup, args: { argv: string[]; env?: Record<string, string> }): Promise<RankResult> {
  Object.assign(process.env, args.env, rankEnvironment({ rank: group.rank, worldSize: group.size, localRank: group.rank, localWorldSize: group.size }));
  try {
    await turbineProgram({ launch: false }).parseAsync(args.argv, { from: "user" });
    return { code: Number(process.exitCode ?? 0) };
  } catch (error) {
    if (error instanceof CommanderError) return { code: error.exitCode };
    return { code: exitCodeFor(error), message: describeError(error) };
  }
}
