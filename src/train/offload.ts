import { rmdirSync } from "node:fs";
import { join } from "node:path";

import { Linear } from "../nn/linear.js";
import type { Module } from "../nn/module.js";
import { Adam } from "../optim/adam.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Config } from "./config.js";
import { ConfigError } from "./config_file.js";

/**
 * Applies `parallel.offload`: with "disk", the optimizer's moments go to
 * `<runDir>/offload/rank<R>.bin`, and under bf16 autocast on a plain layout (one process or
 * DDP) so do the f32 master weights of the parameters forward reads only through their bf16
 * copies (copyOnlyWeights). In float32 the parameters are what forward computes with, and
 * under ZeRO the optimizer updates master slices that the all-gathers read, so those stay.
 * Returns what removes the file and, once empty, the folder, at the end of the run (a no-op
 * without offload).
 *
 * @example
 * const close = offloadOptimizerState(config, parts.model, parts.optimizer, runDir, 0);
 * try { trainer.fit(); } finally { close(); }
 */
export function offloadOptimizerState(config: Config, model: Module, optimizer: Optimizer<any>, runDir: string, rank: number): () => void {
  if (config.parallel.offload === "none") return () => {};
  refuseOffloadWithout(config);
  if (!(optimizer instanceof Adam)) throw new TypeError(`offloadOptimizerState: optimizer.kind ${config.optimizer.kind} built a ${optimizer.constructor.name}`);
  const { zero, tensor, pipeline, expert } = config.parallel;
  const plain = zero === 0 && tensor === 1 && pipeline === 1 && expert === 1;
  const masters = config.train.precision === "bfloat16" && plain ? copyOnlyWeights(model) : [];
  const dir = join(runDir, "offload");
  optimizer.offloadState(join(dir, `rank${rank}.bin`), { masters });
  return () => {
    // The run is over: its model is not used again, so the masters need not come back.
    optimizer.closeOffload({ restoreMasters: false });
    // The last rank to finish leaves no empty folder behind; the others find it still in use.
    try {
      rmdirSync(dir);
    } catch {}
  };
}

/**
 * The trained weights a model reads only through their bf16 copies under bf16 autocast: those
 * of its Linear layers, unless another module holds the same tensor (a tied embedding is also
 * looked up in float32).
 * @example copyOnlyWeights(gpt).length   // the blocks' four matrices each (the tied head's is the embedding's)
 */
export function copyOnlyWeights(model: Module): Tensor[] {
  const holders = new Map<Tensor, number>();
  for (const [, m] of model.namedModules()) {
    for (const [name, p] of m.namedParameters()) if (!name.includes(".")) holders.set(p, (holders.get(p) ?? 0) + 1);
  }
  const weights = model
    .namedModules()
    .filter(([, m]) => m instanceof Linear)
    .map(([, m]) => (m as Linear).weight);
  return [...new Set(weights)].filter((p) => p.requiresGrad && holders.get(p) === 1);
}

/**
 * Disk offload holds Adam's two moments: a ConfigError, naming the optimizer, for another one
 * (checked before a run by `checkLayout` too).
 *
 * @example refuseOffloadWithout(config)   // throws for offload "disk" with optimizer.kind "sgd"
 */
export function refuseOffloadWithout(config: Config): void {
  const kind = config.optimizer.kind;
  if (config.parallel.offload === "none" || kind === "adam" || kind === "adamw") return;
  throw new ConfigError(`parallel.offload "disk" keeps Adam's two moments on disk: optimizer.kind must be adam or adamw, got ${JSON.stringify(kind)}`);
}
