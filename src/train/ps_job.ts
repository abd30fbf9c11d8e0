import { performance } from "node:perf_hooks";

import type { ProcessGroup } from "../parallel/process_group.js";
import { ParameterServer, psLayout, type PsLayout } from "../parallel/ps/index.js";
import { memory } from "../tensor/memory.js";
import { buildRun } from "./build.js";
import type { Config } from "./config.js";
import { ConfigError } from "./config_file.js";
import { peakMemory } from "./memory_report.js";
import { measuredModelStateBytes } from "./model_state_bytes.js";
import type { RunSummary } from "./run.js";

/** A rank's view of a parameter-server job (parallel.mode "ps" under turbine launch). */
export interface PsJob {
  /** The whole job's group: workers and servers talk over its PeerChannel. */
  world: ProcessGroup;
  /** The workers' own group (null on a server): they share the run folder and the data over it. */
  workers: ProcessGroup | null;
  /** The workers' and servers' ranks (psLayout without parameters; the shards come with the model). */
  roles: PsLayout;
}

/**
 * Splits a launched job into servers and workers when the config asks for a parameter server
 * (a collective call on every rank: the workers' group is made here); null otherwise. A layout
 * it cannot run, or a resume, is a ConfigError naming the field.
 * @example const ps = psJobFor(config, group); if (ps && !ps.workers) return serveRun(config, ps);
 */
export function psJobFor(config: Config, group: ProcessGroup | undefined, resuming = false): PsJob | null {
  if (config.parallel.mode !== "ps" || !group) return null;
  // The servers' optimizer state is not in a checkpoint (the first worker writes the model it pulled).
  if (resuming)
    throw new ConfigError('config: parallel.mode "ps" cannot resume a run yet (the servers\' optimizer state is not checkpointed); start a new run');
  if (!group.peerChannel)
    throw new ConfigError(`config: parallel.mode "ps" runs on the threads backend; the ${group.backend} backend has no polled point-to-point messages yet`);
  let roles: PsLayout;
  try {
    roles = psLayout(group.size, config.parallel.servers, []);
  } catch (error) {
    throw new ConfigError(`config: ${(error as Error).message}`);
  }
  return { world: group, workers: group.newGroup(roles.workers), roles };
}

/** parallel.staleness as a number ("inf": Infinity). @example stalenessOf(config) // 4 */
export function stalenessOf(config: Config): number {
  const k = config.parallel.staleness;
  return k === "inf" ? Infinity : k;
}

/**
 * A server rank's whole run: builds the config's model and optimizer (the same seed as the
 * workers' build, so the starting weights are the ones a single process would train), serves
 * until every worker has ended or gone, and returns this rank's summary (not printed: rank 0,
 * a worker, reports the run).
 * @example if (ps && !ps.workers) return serveRun(config, ps);
 */
export function serveRun(config: Config, job: PsJob): RunSummary {
  const parts = buildRun(config, { rank: 0, worldSize: job.roles.workers.length });
  parts.train.close();
  const layout = psLayout(
    job.world.size,
    config.parallel.servers,
    parts.model.parameters().map((p) => p.size),
  );
  memory.resetPeak();
  const started = performance.now();
  const served = new ParameterServer(job.world.peerChannel!(), parts.model, parts.optimizer, layout, {
    staleness: stalenessOf(config),
    timeoutMs: job.world.timeoutMs,
  }).serve();
  const report = memory.report();
  return {
    steps: served.steps,
    epochs: 0,
    steps_per_epoch: 0,
    ranks: job.roles.workers.length,
    train_s: (performance.now() - started) / 1000,
    samples_per_s: 0,
    unit: parts.task.unit,
    eval: null,
    checkpoint: null,
    run_dir: "",
    stopped: null,
    interrupted: null,
    data_wait_s: 0,
    peak_bytes: peakMemory(report),
    comm_bytes: null,
    model_state_bytes: measuredModelStateBytes(report, parts.optimizer),
    compile: null,
  };
}
