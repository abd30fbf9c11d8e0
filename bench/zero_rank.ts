/**
 * One rank of bench/zero.ts: the gpt workload at ZeRO stage `zero` (0: DDP) over the job's
 * group, through strategyFor as `turbine launch` runs it, its step compiled (`train.compile`)
 * when `compile` is set; `warmup` untimed steps, then `steps` timed ones; returns this rank's
 * tokens, seconds and compiled replays.
 */
import type { ProcessGroup } from "../src/parallel/process_group.js";
import { packageRoot } from "../src/package_root.js";
import { buildRun } from "../src/train/build.js";
import { parseConfig } from "../src/train/config_file.js";
import { strategyFor } from "../src/train/strategy_for.js";
import { Trainer } from "../src/train/trainer.js";
import type { RankThroughput } from "./harness.js";
import { quietCompile } from "./timed_trainer.js";
import { workloadConfig } from "./workloads.js";

/**
 * `alone`: every rank trains its own replica on its shard with no strategy across ranks (no
 * communication at all), the same work per rank: what the job's ranks reach on this machine's
 * cores and memory alone, the ceiling of any data-parallel run of them.
 */
export function run(group: ProcessGroup, args: { steps: number; warmup: number; zero: 0 | 1 | 2 | 3; compile?: boolean; alone?: boolean }): RankThroughput {
  const workload = workloadConfig("gpt", packageRoot(), args.warmup + args.steps);
  const input = { ...workload, train: { ...(workload.train as object), compile: args.compile === true }, parallel: { zero: args.zero } };
  const config = parseConfig(input, "gpt zero workload");
  const parts = buildRun(config, { rank: group.rank, worldSize: group.size });
  const strategy = strategyFor(config, parts.model, args.alone ? undefined : group);
  const trainer = new Trainer({ ...parts, eval: undefined, clipGradNorm: config.train.clipGradNorm, strategy, compile: quietCompile(config) });
  trainer.fit({ steps: args.warmup });
  group.barrier();
  const before = trainer.trainSeconds,
    processed = trainer.processedUnits;
  trainer.fit({ steps: args.warmup + args.steps });
  group.barrier();
  strategy.dispose();
  return { tokens: trainer.processedUnits - processed, seconds: trainer.trainSeconds - before, replays: trainer.compileStats?.replays ?? 0 };
}
