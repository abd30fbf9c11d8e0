import type { Module } from "../nn/module.js";
import { DistributedDataParallel } from "../parallel/ddp.js";
import type { ProcessGroup } from "../parallel/process_group.js";
import { SingleProcess, type Strategy } from "../parallel/strategy.js";
import type { Config } from "./config.js";

/**
 * The strategy a run's config asks for on this rank: one process without a group, data
 * parallel (DDP) over it otherwise. The one place where a config's parallel layout becomes a
 * Strategy, so the run and the Trainer know no strategy by name.
 *
 * @example
 * const strategy = strategyFor(config, parts.model, group);
 */
export function strategyFor(_config: Config, model: Module, group: ProcessGroup | undefined): Strategy {
  return group ? new DistributedDataParallel(model, group) : new SingleProcess(model);
}
