/**
 * One rank of bench/ddp.ts: the gpt workload with DDP over the job's group, `warmup` untimed
 * steps, then `steps` timed ones; returns this rank's tokens and seconds.
 */
import { DistributedDataParallel } from "../src/parallel/ddp.js";
import type { ProcessGroup } from "../src/parallel/process_group.js";
import { packageRoot } from "../src/package_root.js";
import { buildRun } from "../src/train/build.js";
import { parseConfig } from "../src/train/config_file.js";
import { Trainer } from "../src/train/trainer.js";
import { workloadConfig } from "./workloads.js";

export function run(group: ProcessGroup, args: { steps: number; warmup: number }): { tokens: number; seconds: number } {
  const config = parseConfig(workloadConfig("gpt", packageRoot(), args.warmup + args.steps), "gpt ddp workload");
  const parts = buildRun(config, { rank: group.rank, worldSize: group.size });
  const ddp = new DistributedDataParallel(parts.model, group);
  const trainer = new Trainer({ ...parts, eval: undefined, clipGradNorm: config.train.clipGradNorm });
  trainer.fit({ steps: args.warmup });
  group.barrier();
  const before = trainer.trainSeconds,
    processed = trainer.processedUnits;
  trainer.fit({ steps: args.warmup + args.steps });
  group.barrier();
  ddp.dispose();
  return { tokens: trainer.processedUnits - processed, seconds: trainer.trainSeconds - before };
}
