import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { ProcessGroup } from "../parallel/process_group.js";
import { MEMORY_CATEGORIES, memory } from "../tensor/memory.js";
import { buildRun } from "../train/build.js";
import type { Config } from "../train/config.js";
import { offloadOptimizerState } from "../train/offload.js";
import { meshFor, modelFor, strategyFor } from "../train/strategy_for.js";
import { Trainer } from "../train/trainer.js";

/** What a short real run of a layout measured on one rank: the tracker's peaks and the step time. */
export interface MeasuredRun {
  /** The most bytes held at once during the timed steps (the tracker's peakTotal). */
  peakBytes: number;
  /** The activation category's peak during the timed steps. */
  activationBytes: number;
  /** Seconds per optimizer step over the timed steps. */
  secondsPerStep: number;
  /** The validation loss after the run (with `validate`), else null. */
  validation: number | null;
}

/**
 * Trains a config on this rank as `turbine launch` would (mesh, model placement, strategy and
 * offload by the config), `warmup` untimed steps and then `steps` timed ones, and returns the
 * memory tracker's peaks over the timed steps (after warm-up, so the optimizer state exists)
 * and their seconds per step: the measurement the planner's predictions are checked against.
 * Bytes this thread held before the run (an earlier run's) are left out.
 * With `validate`, the config's validation set is evaluated after the timed steps (untimed);
 * `afterWarmup` runs between the warm-up and the timed steps.
 * Without a group, one process.
 *
 * @example const measured = measureRun(config, group, { warmup: 1, steps: 3 });
 */
export function measureRun(
  config: Config,
  group: ProcessGroup | undefined,
  options: { warmup: number; steps: number; validate?: boolean; afterWarmup?: () => void },
): MeasuredRun {
  // What this thread held before (earlier runs' tensors) is not this run's.
  const before = memory.report().current;
  const mesh = meshFor(config, group);
  const shard = mesh ? { rank: mesh.coords.data, worldSize: mesh.shape.data } : undefined;
  const parts = buildRun(config, shard, (model) => modelFor(config, model, mesh));
  const strategy = strategyFor(config, parts.model, group, mesh);
  const dir = mkdtempSync(join(tmpdir(), "turbine-plan-run-"));
  const closeOffload = offloadOptimizerState(config, parts.model, parts.optimizer, dir, group?.rank ?? 0);
  try {
    const trainer = new Trainer({
      ...parts,
      eval: options.validate ? parts.eval : undefined,
      accumulate: config.train.accumulate,
      clipGradNorm: config.train.clipGradNorm,
      compile: config.train.compile ? { cacheSize: config.train.compileCacheSize } : null,
      strategy,
    });
    trainer.fit({ steps: options.warmup });
    group?.barrier();
    options.afterWarmup?.();
    memory.resetPeak();
    const started = trainer.trainSeconds;
    trainer.fit({ steps: options.warmup + options.steps });
    const report = memory.report();
    group?.barrier();
    const held = MEMORY_CATEGORIES.reduce((n, c) => n + before[c], 0);
    const secondsPerStep = (trainer.trainSeconds - started) / options.steps;
    return {
      peakBytes: report.peakTotal - held,
      activationBytes: report.peak.activation - before.activation,
      secondsPerStep,
      validation: options.validate ? trainer.evaluate().loss : null,
    };
  } finally {
    closeOffload();
    strategy.dispose();
    parts.train.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
