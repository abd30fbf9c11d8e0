import type { Module } from "../nn/module.js";
import { DistributedDataParallel } from "../parallel/ddp.js";
import { DeviceMesh, type MeshShape, meshShape } from "../parallel/mesh.js";
import type { ProcessGroup } from "../parallel/process_group.js";
import { SingleProcess, type Strategy } from "../parallel/strategy.js";
import { ZeroDataParallel } from "../parallel/zero/zero.js";
import type { Config } from "./config.js";
import { ConfigError } from "./config_file.js";

/**
 * The device mesh of a run's `parallel` block over the job's ranks (a collective call on every
 * rank of `group`); without a group, null, after checking the layout asks for one rank. A
 * layout that does not fit the ranks is a ConfigError naming the numbers.
 *
 * @example const mesh = meshFor(config, group);   // mesh?.coords.data: this rank's data shard
 */
export function meshFor(config: Config, group: ProcessGroup | undefined): DeviceMesh | null {
  let shape: MeshShape;
  try {
    shape = meshShape(group?.size ?? 1, config.parallel);
  } catch (error) {
    const hint = group ? "" : " (one process: turbine launch -n N runs N ranks)";
    throw new ConfigError(`${(error as Error).message}${hint}`);
  }
  return group ? DeviceMesh.build(group, shape) : null;
}

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
