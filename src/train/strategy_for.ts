import type { Module } from "../nn/module.js";
import { DistributedDataParallel } from "../parallel/ddp.js";
import type { ProcessGroup } from "../parallel/process_group.js";
import { SingleProcess, type Strategy } from "../parallel/strategy.js";
import { ZeroDataParallel } from "../parallel/zero/zero.js";
import type { Config } from "./config.js";

/**
 * The strategy a run's config asks for on this rank: one process without a group; over a
 * group, data parallel (DDP) at `parallel.zero` 0, sharded data parallel (ZeRO) at 1 or 2. The
 * one place where a config's parallel layout becomes a Strategy, so the run and the Trainer
 * know no strategy by name.
 *
 * @example
 * const strategy = strategyFor(config, parts.model, group);
 */
export function strategyFor(config: Config, model: Module, group: ProcessGroup | undefined): Strategy {
  if (!group) return new SingleProcess(model);
  const stage = config.parallel.zero;
  return stage === 0 ? new DistributedDataParallel(model, group) : new ZeroDataParallel(model, group, { stage });
}
