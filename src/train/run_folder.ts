import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

import type { Config } from "./config.js";
import { ConfigError } from "./config_file.js";

/**
 * Run folders, as Lightning lays them out: every run gets its own `<outDir>/<name>/version_N`
 * (config.json, metrics.jsonl, checkpoints/), so a new run never touches an earlier run's
 * files; only `--resume` writes into an existing one.
 */

const VERSION = /^version_(\d+)$/;

/**
 * The versions under a run name's folder, lowest first.
 * @example runVersions("runs/cnn") // [0, 1, 2]
 */
export function runVersions(parent: string): number[] {
  if (!existsSync(parent)) return [];
  return readdirSync(parent)
    .map((n) => VERSION.exec(n)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * Creates the next free `version_N` folder under `parent` and returns its path. The folder is
 * claimed with an exclusive mkdir, so two runs started at once never share one.
 * @example const runDir = newRunFolder("runs/cnn"); // runs/cnn/version_0, then version_1, ...
 */
export function newRunFolder(parent: string): string {
  mkdirSync(parent, { recursive: true });
  for (let version = (runVersions(parent).at(-1) ?? -1) + 1; ; version++) {
    const dir = join(parent, `version_${version}`);
    try {
      mkdirSync(dir);
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}

/**
 * Writes the run's config.json: the config a resume or an elastic restart trains again.
 * @example writeRunConfig("runs/cnn/version_0", config);
 */
export function writeRunConfig(runDir: string, config: Config): void {
  writeFileSync(join(runDir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
}

/** What `--resume PATH` points at: the run folder to continue and where its checkpoints are looked for. */
export interface ResumeTarget {
  runDir: string;
  /** The run's checkpoints/ folder, or the one checkpoint named on the command line. */
  checkpoint: string;
}

/**
 * Reads `--resume PATH`: a run folder (holding config.json), its checkpoints/ folder, or one
 * checkpoint in it. Anything else is a ConfigError saying what was expected; a run name's
 * folder holding several versions names them.
 * @example resumeTarget("runs/cnn/version_0") // { runDir: "runs/cnn/version_0", checkpoint: "runs/cnn/version_0/checkpoints" }
 */
export function resumeTarget(path: string): ResumeTarget {
  const isRun = (dir: string): boolean => existsSync(join(dir, "config.json"));
  if (isRun(path)) return { runDir: path, checkpoint: join(path, "checkpoints") };
  if (basename(path) === "checkpoints" && isRun(dirname(path))) return { runDir: dirname(path), checkpoint: path };
  if (existsSync(join(path, "meta.json"))) {
    const runDir = dirname(dirname(path));
    if (basename(dirname(path)) === "checkpoints" && isRun(runDir)) return { runDir, checkpoint: path };
    throw new ConfigError(`--resume ${path}: this checkpoint is not inside a run folder (expected it in <run>/checkpoints/ beside <run>/config.json)`);
  }
  const versions = runVersions(path);
  if (versions.length > 0) {
    const names = versions.map((v) => `version_${v}`).join(", ");
    throw new ConfigError(
      `--resume ${path}: this folder holds the runs ${names}; resume one of them, e.g. --resume ${join(path, `version_${versions.at(-1)}`)}`,
    );
  }
  throw new ConfigError(`--resume ${path}: not a run folder (no config.json), its checkpoints/ folder, or a checkpoint (no meta.json)`);
}
