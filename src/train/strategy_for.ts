import type { Module } from "../nn/module.js";
import { FrozenVarianceDataParallel } from "../parallel/compression/frozen_variance_strategy.js";
import { HierarchicalGroup } from "../parallel/mpi/hierarchical.js";
import { hookFor } from "../parallel/compression/index.js";
import { DistributedDataParallel } from "../parallel/ddp.js";
import { DeviceMesh, type MeshShape, meshShape } from "../parallel/mesh.js";
import { PipelineParallel } from "../parallel/pipeline/pipeline.js";
import type { ProcessGroup } from "../parallel/process_group.js";
import { SingleProcess, type Strategy } from "../parallel/strategy.js";
import { ZeroDataParallel } from "../parallel/zero/zero.js";
import { GPT } from "../models/gpt.js";
import { TensorParallelGPT } from "../models/tensor_parallel_gpt.js";
import { TensorParallel } from "../parallel/tensor/strategy.js";
import { placeExperts } from "../parallel/expert/expert_parallel.js";
import { ExpertParallel } from "../parallel/expert/strategy.js";
import type { Config } from "./config.js";
import { asConfigError, ConfigError } from "./config_file.js";
import { refuseOffloadWithout } from "./offload.js";
import type { PsJob } from "./ps_job.js";
import { ParameterServerWorker, psLayout } from "../parallel/ps/index.js";

/**
 * The device mesh of a run's `parallel` block over the job's ranks (a collective call on every
 * rank of `group`); without a group, null, after checking the layout asks for one rank. A
 * layout that does not fit the ranks is a ConfigError naming the numbers.
 *
 * @example const mesh = meshFor(config, group);   // mesh?.coords.data: this rank's data shard
 */
export function meshFor(config: Config, group: ProcessGroup | undefined): DeviceMesh | null {
  const shape = shapeFor(config, group?.size ?? 1, group ? "" : " (one process: turbine launch -n N runs N ranks)");
  return group ? DeviceMesh.build(group, shape) : null;
}

function shapeFor(config: Config, ranks: number, hint = ""): MeshShape {
  const { stageLayers, pipeline } = config.parallel;
  if (stageLayers !== undefined && pipeline === 1)
    throw new ConfigError(
      `config: parallel.stageLayers ${JSON.stringify(stageLayers)} cuts pipeline stages, but parallel.pipeline is 1: set parallel.pipeline to their number, or drop stageLayers`,
    );
  try {
    return meshShape(ranks, config.parallel);
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}${hint}`);
  }
}

/**
 * Whether a config's parallel layout runs on `ranks` ranks, decided from the config alone
 * (nothing is built or allocated): its mesh shape, or the ConfigError that meshFor, modelFor or
 * strategyFor would throw for it. The one rule of which layouts turbine runs, so the planner
 * (src/plan) enumerates exactly the layouts a launch accepts.
 *
 * @example checkLayout(config, 8)   // { data: 2, tensor: 2, pipeline: 2, expert: 1 }, or throws a ConfigError
 */
export function checkLayout(config: Config, ranks: number): MeshShape {
  const ps = config.parallel.mode === "ps" && ranks > 1;
  if (ps && config.parallel.servers >= ranks)
    throw new ConfigError(
      `config: parallel.servers ${config.parallel.servers}: a parameter server job of ${ranks} ranks needs 1 to ${ranks - 1} servers (the other ranks train)`,
    );
  const shape = shapeFor(config, ps ? ranks - config.parallel.servers : ranks);
  refuseOffloadWithout(config);
  if (ranks === 1) return shape;
  if (ps) refuseParameterServerLayout(config);
  refuseSplitParametersFor(config, shape.tensor);
  refuseCompressionOutsideDDP(config);
  if (shape.tensor > 1) refuseTensorLayout(config);
  if (shape.pipeline > 1) refusePipelineLayout(config);
  if (shape.expert > 1) refuseExpertLayout(config, shape.expert);
  return shape;
}

/**
 * The module this rank trains: the model as built; with `parallel.tensor` t > 1 its
 * Megatron-style split over the mesh's tensor group (the gpt only; built under deferInit, each
 * rank materialises its part, the same weights as t = 1), which pipeline stages then cut; with
 * `parallel.expert` e > 1 the gpt's mixtures with their experts sharded over the expert group
 * (each rank materialises only its experts). A model that cannot be split so is a ConfigError
 * naming the numbers.
 *
 * @example const parts = buildRun(config, shard, (model) => modelFor(config, model, mesh));
 */
export function modelFor(config: Config, model: Module, mesh: DeviceMesh | null): Module {
  if (!mesh) return model;
  if (mesh.shape.expert > 1) {
    refuseExpertLayout(config, mesh.shape.expert);
    placeExperts(model, mesh.groups.expert);
    return model;
  }
  const t = config.parallel.tensor;
  if (t === 1) return model;
  refuseTensorLayout(config);
  if (!(model instanceof GPT)) throw new TypeError(`modelFor: a gpt config built a ${model.constructor.name}`);
  // Pipeline stages materialise only their own layers' parts.
  return asConfigError(
    () => new TensorParallelGPT(model, mesh.groups.tensor, { sequenceParallel: config.parallel.sequenceParallel, deferred: config.parallel.pipeline > 1 }),
  );
}

/**
 * The strategy a run's config asks for on this rank: one process without a group; expert
 * parallel when parallel.expert > 1; a pipeline stage when parallel.pipeline > 1 (its layers
 * tensor-parallel when parallel.tensor > 1, DDP across the pipelines on the data dimension, or
 * ZeRO-1 within each stage's data group at parallel.zero 1);
 * tensor parallel over the mesh's tensor group (DDP over its data group) when parallel.tensor > 1; over
 * a group otherwise, data parallel (DDP) at `parallel.zero` 0, sharded data parallel (ZeRO) at
 * 1, 2 or 3 (with `parallel.compression`'s hook on DDP; the frozen-variance DDP for optimizer onebitadam
 * or compression target momentum;
 * DDP's all-reduce by machine per `parallel.hierarchical`); under `parallel.mode` "ps" (with the
 * job's `ps` split, psJobFor) a parameter-server worker over the whole job. The one place where a config's
 * parallel layout becomes a Strategy, so the run and the Trainer know no strategy by name.
 *
 * @example
 * const strategy = strategyFor(config, parts.model, group, meshFor(config, group));
 */
export function strategyFor(config: Config, model: Module, group: ProcessGroup | undefined, mesh: DeviceMesh | null = null, ps: PsJob | null = null): Strategy {
  if (ps) {
    refuseParameterServerLayout(config);
    const layout = psLayout(
      ps.world.size,
      config.parallel.servers,
      model.parameters().map((p) => p.size),
    );
    return new ParameterServerWorker(model, ps.world.peerChannel!(), layout);
  }
  if (!group) return new SingleProcess(model);
  refuseSplitParametersFor(config, mesh?.shape.tensor ?? config.parallel.tensor);
  refuseCompressionOutsideDDP(config);
  if (mesh && mesh.shape.expert > 1) return new ExpertParallel(model, { data: mesh.groups.data, expert: mesh.groups.expert });
  if (model instanceof TensorParallelGPT && mesh && mesh.shape.pipeline === 1) {
    return new TensorParallel(model, mesh.groups.tensor, { data: mesh.groups.data, sequenceParallel: model.sequenceParallel });
  }
  const stage = config.parallel.zero;
  if (mesh && mesh.shape.pipeline > 1) {
    refusePipelineLayout(config);
    const { schedule, microBatches, virtualStages, stageLayers } = config.parallel;
    return asConfigError(
      () =>
        new PipelineParallel(model, mesh.groups.pipeline, {
          schedule,
          microBatches,
          virtualStages,
          ...(stageLayers ? { stageLayers } : {}),
          dataGroup: mesh.groups.data,
          tensorGroup: mesh.shape.tensor > 1 ? mesh.groups.tensor : null,
          zero: stage === 1 ? 1 : 0,
        }),
    );
  }
  if (stage !== 0) return new ZeroDataParallel(model, group, { stage });
  const byMachine = asConfigError(() => HierarchicalGroup.over(group, { force: config.parallel.hierarchical })) ?? group;
  return config.optimizer.kind === "onebitadam" || config.parallel.compression.target === "momentum"
    ? new FrozenVarianceDataParallel(model, byMachine)
    : new DistributedDataParallel(model, byMachine, { hook: hookFor(config.parallel.compression), hookWarmupSteps: config.parallel.compression.warmupSteps });
}

/**
 * LAMB's per-tensor trust ratio and Muon's orthogonalisation need each parameter's whole norms
 * or matrix: ZeRO's 1-D slices get them from the other ranks (ZeroParameterShards), tensor
 * parallel's row or column blocks do not, so a ConfigError, naming the optimizer, there, where
 * the update would otherwise silently differ from one process's on every rank.
 */
function refuseSplitParametersFor(config: Config, tensor: number): void {
  const kind = config.optimizer.kind;
  if (kind !== "lamb" && kind !== "muon") return;
  if (tensor > 1) throw new ConfigError(`config: optimizer.kind ${kind} needs whole parameters and does not run with parallel.tensor ${tensor} yet`);
}

/**
 * Gradient compression hooks into plain DDP's buckets: a ConfigError, naming the layout, where
 * the gradients go through ZeRO's reduce-scatters or a tensor or pipeline layout instead.
 */
function refuseCompressionOutsideDDP(config: Config): void {
  const { compression, zero, tensor, pipeline, expert } = config.parallel;
  const onebitAdam = config.optimizer.kind === "onebitadam",
    momentum = compression.target === "momentum";
  if (onebitAdam && compression.kind !== "none")
    throw new ConfigError(
      `config: optimizer.kind onebitadam compresses the momentum itself; parallel.compression must be "none", got ${JSON.stringify(compression.kind)}`,
    );
  if (momentum && config.optimizer.kind !== "adamw")
    throw new ConfigError(
      `config: parallel.compression.target "momentum" compresses AdamW's momentum once its variance freezes; optimizer.kind is ${config.optimizer.kind} (use adamw, or target "gradient")`,
    );
  if ((compression.kind === "none" && !onebitAdam) || (zero === 0 && tensor === 1 && pipeline === 1 && expert === 1)) return;
  const what = onebitAdam ? "optimizer.kind onebitadam" : `parallel.compression ${JSON.stringify(compression.kind)}`;
  throw new ConfigError(
    `config: ${what} compresses plain data parallel only (zero 0, tensor 1, pipeline 1, expert 1); got zero ${zero}, tensor ${tensor}, pipeline ${pipeline}, expert ${expert}`,
  );
}

/**
 * Tensor parallelism splits the gpt's heads (Megatron style) and runs beside DDP and pipeline
 * stages: a ConfigError, naming the numbers, for another model, heads that do not split, ZeRO,
 * or sequence parallelism with pipeline stages.
 */
function refuseTensorLayout(config: Config): void {
  const { tensor: t, zero, pipeline } = config.parallel;
  const model = config.model;
  if (model.kind !== "gpt") throw new ConfigError(`config: parallel.tensor ${t} splits only the gpt model; model.kind is ${JSON.stringify(model.kind)}`);
  if (model.heads % t !== 0)
    throw new ConfigError(
      `config: model.heads ${model.heads}: ${model.heads} heads do not split across ${t} tensor-parallel ranks (heads must be a multiple of parallel.tensor)`,
    );
  if (zero !== 0) throw new ConfigError(`config: parallel.tensor ${t} runs with parallel.zero 0 only (got zero ${zero})`);
  if (pipeline !== 1 && config.parallel.sequenceParallel)
    throw new ConfigError(`config: parallel.sequenceParallel does not combine with parallel.pipeline ${pipeline}; set it false or pipeline 1`);
  if (config.parallel.sequenceParallel) refuseUnevenSequenceSplit(config, model.context, t);
}

/**
 * Sequence parallelism cuts each batch's batchSize × length tokens into t equal runs: a
 * ConfigError where a length the run trains at (the context; with data.seqLenWarmup also its
 * start and its multiples) does not give a token count that t divides.
 */
function refuseUnevenSequenceSplit(config: Config, context: number, t: number): void {
  const { batchSize } = config.data;
  const warmup = config.data.kind === "fashion-mnist" ? undefined : config.data.seqLenWarmup;
  const lengths = warmup ? [context, warmup.start, warmup.multiple] : [context];
  const uneven = lengths.find((length) => (batchSize * length) % t !== 0);
  if (uneven !== undefined)
    throw new ConfigError(
      `config: parallel.sequenceParallel splits data.batchSize ${batchSize} × ${uneven} tokens${uneven === context ? " (model.context)" : " (a data.seqLenWarmup length)"} over parallel.tensor ${t}, which does not divide them; change data.batchSize or model.context`,
    );
}

/**
 * Expert parallelism shards the experts of a gpt with `model.moe`: a ConfigError, naming the
 * numbers, for a model without experts, experts that do not divide by the expert degree, or ZeRO.
 */
function refuseExpertLayout(config: Config, e: number): void {
  const experts = config.model.kind === "gpt" ? config.model.moe?.experts : undefined;
  if (experts === undefined) throw new ConfigError(`config: parallel.expert ${e} shards the experts of a gpt with model.moe; this model has none`);
  if (experts % e !== 0)
    throw new ConfigError(`config: model.moe.experts ${experts} must divide by parallel.expert ${e} (each rank holds experts / expert of them)`);
  if (config.parallel.zero !== 0) throw new ConfigError(`config: parallel.expert ${e} runs with parallel.zero 0 only (got zero ${config.parallel.zero})`);
}

/**
 * A parameter server trains data parallel: a ConfigError, naming the field, for a model-parallel
 * layout, ZeRO, offload or compression beside it.
 */
function refuseParameterServerLayout(config: Config): void {
  const { tensor, pipeline, expert, zero, offload, compression } = config.parallel;
  const clash = [
    tensor !== 1 && `parallel.tensor ${tensor}`,
    pipeline !== 1 && `parallel.pipeline ${pipeline}`,
    expert !== 1 && `parallel.expert ${expert}`,
    zero !== 0 && `parallel.zero ${zero}`,
    offload !== "none" && `parallel.offload ${offload}`,
    compression.kind !== "none" && `parallel.compression ${compression.kind}`,
    config.train.precision === "float16" && "train.precision float16",
    config.optimizer.kind === "onebitadam" && "optimizer.kind onebitadam (it runs its own compressed data parallel)",
  ].filter(Boolean);
  if (clash.length > 0) throw new ConfigError(`config: parallel.mode "ps" trains data parallel only; remove ${clash.join(", ")}`);
}

/**
 * A pipeline runs with DDP or ZeRO-1 across pipelines: a ConfigError for ZeRO 2 or 3, for
 * ZeRO-1 with an optimizer that needs whole parameters (the stages' shards do not gather them),
 * for the cnn (not a chain of layers), and for more micro-batches than a batch has rows.
 */
function refusePipelineLayout(config: Config): void {
  const { zero, pipeline, microBatches } = config.parallel;
  // The planner's rule too (src/plan: a model is pipelineable): the cnn is one forward, not a chain of layers.
  if (config.model.kind === "cnn")
    throw new ConfigError(
      `config: parallel.pipeline ${pipeline} cuts the gpt and the mlp (chains of layers) into stages; the cnn is not cut: train it with data parallel or ZeRO`,
    );
  if (microBatches > config.data.batchSize)
    throw new ConfigError(
      `config: parallel.microBatches ${microBatches} exceeds data.batchSize ${config.data.batchSize}: each micro-batch needs a row of the batch at least`,
    );
  const kind = config.optimizer.kind;
  if (zero === 1 && (kind === "lamb" || kind === "muon"))
    throw new ConfigError(
      `config: optimizer.kind ${kind} needs whole parameters and does not run with parallel.zero 1 and parallel.pipeline ${pipeline} yet; use zero 0`,
    );
  if (zero > 1)
    throw new ConfigError(
      `parallel.zero ${zero} with parallel.pipeline ${pipeline} is not supported yet; use zero 0 (DDP across pipelines) or 1 (ZeRO-1 within each stage's data group)`,
    );
}
