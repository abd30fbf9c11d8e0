/**
 * One rank of bench/compression_link.ts: the gpt workload (bench/workloads.ts) through
 * strategyFor as `turbine launch` runs it, with `method`: nosync (DDP that never syncs: no
 * communication), none (plain DDP), a `parallel.compression.kind`, or onebitadam (1-bit Adam
 * frozen after the warm-up steps, so every timed step compresses), one OpenMP thread per rank. Returns the median seconds
 * per timed step and the bytes this rank sent per timed step.
 */
import { kernels } from "../src/backends/index.js";
import { DistributedDataParallel } from "../src/parallel/ddp.js";
import type { ProcessGroup } from "../src/parallel/process_group.js";
import type { Strategy } from "../src/parallel/strategy.js";
import type { Tensor } from "../src/tensor/tensor.js";
import { packageRoot } from "../src/package_root.js";
import { buildRun } from "../src/train/build.js";
import { parseConfig } from "../src/train/config_file.js";
import { strategyFor } from "../src/train/strategy_for.js";
import { Trainer } from "../src/train/trainer.js";
import { median, now } from "./harness.js";
import { workloadConfig } from "./workloads.js";

export interface LinkRun {
  seconds: number;
  bytes: number;
}

/** DDP whose backward never averages: the step with no communication at all. */
class NeverSynced extends DistributedDataParallel {
  override backward(loss: Tensor): void {
    super.backward(loss, { sync: false });
  }
}

export function run(group: ProcessGroup, args: { method: string; steps: number; warmup: number }): LinkRun {
  // Each namespace stands for a host with one of this machine's 2 cores: the kernels' default
  // of every core per rank would run 4 OpenMP threads on 2 cores, and a step took 0.65 s or
  // 1.4 s depending on how the threads happened to share them.
  kernels.setNumThreads(1);
  const base = workloadConfig("gpt", packageRoot(), args.warmup + args.steps);
  const input =
    args.method === "onebitadam"
      ? { ...base, optimizer: { ...(base.optimizer as object), kind: "onebitadam", freezeStep: args.warmup } }
      : { ...base, parallel: { compression: { kind: args.method === "nosync" ? "none" : args.method } } };
  const config = parseConfig(input, `gpt compression workload (${args.method})`);
  const parts = buildRun(config, { rank: group.rank, worldSize: group.size });
  const strategy: Strategy = args.method === "nosync" ? new NeverSynced(parts.model, group) : strategyFor(config, parts.model, group);
  const trainer = new Trainer({ ...parts, eval: undefined, clipGradNorm: config.train.clipGradNorm, strategy });
  trainer.fit({ steps: args.warmup });
  const seconds: number[] = [],
    bytesBefore = strategy.commBytes ?? 0;
  for (let step = args.warmup; step < args.warmup + args.steps; step++) {
    group.barrier();
    const t0 = now();
    trainer.fit({ steps: step + 1 });
    seconds.push(now() - t0);
  }
  const bytes = ((strategy.commBytes ?? 0) - bytesBefore) / args.steps;
  strategy.dispose();
  return { seconds: median(seconds), bytes };
}
