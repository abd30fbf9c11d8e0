/**
 * The job module of `turbine launch` on the threads backend: each worker runs the `turbine`
 * command given after `--` (train) through the same commander program as the CLI; the train
 * command finds its rank's group with initProcessGroup().
 */
import { Command } from "commander";

import { registerTrain } from "./train.js";

/** Runs one rank's command line, e.g. ["train", "examples/mlp.json"]. */
export async function run(_group: unknown, args: { argv: string[] }): Promise<null> {
  const program = new Command().name("turbine").exitOverride();
  registerTrain(program);
  await program.parseAsync(args.argv, { from: "user" });
  return null;
}
