/** One rank of bench/zero_memory.ts: runTraining of the bench's config over the job's group. */
import type { ProcessGroup } from "../src/parallel/process_group.js";
import type { ConfigInput } from "../src/train/config.js";
import { parseConfig } from "../src/train/config_file.js";
import { runTraining } from "../src/train/run.js";

export function run(group: ProcessGroup, args: { config: ConfigInput }) {
  const summary = runTraining(parseConfig(args.config, "zero_memory"), { group, log: () => {} });
  return { peak: summary.peak_bytes, modelStates: summary.model_state_bytes, steps: summary.steps, train_s: summary.train_s };
}
