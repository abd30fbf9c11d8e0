import type { Module } from "../nn/module.js";
import { DistributedDataParallel } from "../parallel/ddp.js";
import { DeviceMesh, type MeshShape, meshShape } from "../parallel/mesh.js";
import { PipelineParallel } from "../parallel/pipeline/pipeline.js";
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
 * The strategy a run's config asks for on this rank: one process without a group; a pipeline
 * stage when parallel.pipeline > 1 (DDP across the pipelines on the data dimension); over a
 * group otherwise, data parallel (DDP) at `parallel.zero` 0, sharded data parallel (ZeRO) at 1,
 * 2 or 3. The one place where a config's parallel layout becomes a Strategy, so the run and the
 * Trainer know no strategy by name.
 *
 * @example
 * const strategy = strategyFor(config, parts.model, group, meshFor(config, group));
 */
export function strategyFor(config: Config, model: Module, group: ProcessGroup | undefined, mesh: DeviceMesh | null = null): Strategy {
  if (!group) return new SingleProcess(model);
  const stage = config.parallel.zero;
  if (mesh && mesh.shape.pipeline > 1) {
    if (stage !== 0)
      throw new ConfigError(`parallel.zero ${stage} with parallel.pipeline ${mesh.shape.pipeline} is not supported yet; use zero 0 (DDP across pipelines)`);
    const { schedule, microBatches, virtualStages, stageLayers } = config.parallel;
    return new PipelineParallel(model, mesh.groups.pipeline, {
      schedule,
      microBatches,
      virtualStages,
      ...(stageLayers ? { stageLayers } : {}),
      dataGroup: mesh.groups.data,
    });
  }
  return stage === 0 ? new DistributedDataParallel(model, group) : new ZeroDataParallel(model, group, { stage });
}
