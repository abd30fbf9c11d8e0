/** A threads job module for launch_rank.test: runs a rank's command as `turbine launch` does, then reports its environment. */
import { run as runCommand } from "../../src/cli/launch_rank.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";

export async function run(group: ProcessGroup, args: { argv: string[] }): Promise<unknown> {
  const result = await runCommand(group, args);
  const { RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE } = process.env;
  return { result, env: { RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE } };
}
