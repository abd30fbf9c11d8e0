import { rmdirSync } from "node:fs";
import { join } from "node:path";

import { Adam } from "../optim/adam.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { Config } from "./config.js";
import { ConfigError } from "./config_file.js";

/**
 * Applies `parallel.offload`: with "disk", the optimizer's moments go to
 * `<runDir>/offload/rank<R>.bin`. Returns what removes the file and, once empty, the folder
 * (a no-op without offload).
 *
 * @example
 * const close = offloadOptimizerState(config, parts.optimizer, runDir, 0);
 * try { trainer.fit(); } finally { close(); }
 */
export function offloadOptimizerState(config: Config, optimizer: Optimizer<any>, runDir: string, rank: number): () => void {
  if (config.parallel.offload === "none") return () => {};
  refuseOffloadWithout(config);
  if (!(optimizer instanceof Adam)) throw new TypeError(`offloadOptimizerState: optimizer.kind ${config.optimizer.kind} built a ${optimizer.constructor.name}`);
  const dir = join(runDir, "offload");
  optimizer.offloadState(join(dir, `rank${rank}.bin`));
  return () => {
    optimizer.closeOffload();
    // The last rank to finish leaves no empty folder behind; the others find it still in use.
    try {
      rmdirSync(dir);
    } catch {}
  };
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
