/**
 * Kernel settings chosen by measurement instead of constants tuned on one machine: the first
 * time a kernel meets a shape, each candidate setting runs a few times on the native addon and
 * the fastest is kept, in memory and in a JSON file per CPU model, kernels-<cpu>.json in
 * $TURBINE_KERNEL_CACHE_DIR, else in turbine's cache folder (cacheDir: $TURBINE_CACHE, else
 * ~/.cache/turbine), so later processes on the same kind of CPU start from the answer. A file that cannot be read or
 * parsed is ignored with a one-line warning (and rewritten at the next choice); one that cannot
 * be written leaves the choices in memory. The file names the addon build it was measured with
 * (a hash of turbine.node): a rebuilt addon's kernels may rank the candidates differently, so
 * another build's choices are measured again. A choice is per thread count (a rank of a data
 * parallel job may run one thread where a single process runs all cores).
 * TURBINE_KERNEL_TUNING=off (default on) takes every kernel's default (the first candidate)
 * without measuring.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { threadId } from "node:worker_threads";

import { cacheDir } from "../../data/cache.js";
import { BackendSettingError, backendName } from "../index.js";
import type { Kernels } from "../kernels.js";
import { addonPath, loadNative } from "./addon.js";

type Choice = number | string;

/** Timed runs of each candidate after one untimed warm-up run; the fastest run counts. */
const TIMED_RUNS = 3;

/** A file name part for this CPU: vendor, family, model and model name from /proc/cpuinfo, else Node's model string. */
export function cpuModelKey(): string {
  let key = cpus()[0]?.model ?? "unknown";
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const field = (name: string): string => new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(info)?.[1]?.trim() ?? "";
    key = [field("vendor_id"), `family ${field("cpu family")}`, `model ${field("model")}`, field("model name")].join(" ");
  } catch {
    // Not Linux: Node's model string names the CPU well enough.
  }
  return key.replace(/[^A-Za-z0-9.]+/g, "-").replace(/^-|-$/g, "");
}

/**
 * Measured choices of kernel settings, kept in one JSON file.
 * @example
 * const tuner = new KernelTuner("/tmp/kernels.json", "3f2a9c0d41b7e865");
 * const block = tuner.choose("attention", "bf16 4x4x128x64 causal", [64, 32, 128], (b) => runAttention(b));
 */
export class KernelTuner {
  private choices: Map<string, Choice> | null = null;

  /** `path`: the JSON file of this CPU's choices; `build`: the addon build they hold for (a file of another build's is measured again). */
  constructor(
    readonly path: string,
    readonly build = "",
  ) {}

  /**
   * The fastest of `candidates` (the first is the default) for `kernel` at `shape`: the only
   * candidate, unmeasured; else the stored choice when there is one among the candidates; else
   * each candidate measured by `run` and the fastest stored.
   */
  choose<T extends Choice>(kernel: string, shape: string, candidates: readonly T[], run: (choice: T) => void): T {
    if (candidates.length === 1) return candidates[0]!;
    const choices = this.load();
    const key = `${kernel} ${shape}`;
    const known = choices.get(key);
    const stored = candidates.find((c) => c === known);
    if (stored !== undefined) return stored;
    const best = fastest(candidates, run);
    choices.set(key, best);
    this.save();
    return best;
  }

  private load(): Map<string, Choice> {
    if (this.choices) return this.choices;
    this.choices = new Map();
    if (!existsSync(this.path)) return this.choices;
    try {
      const parsed: unknown = JSON.parse(readFileSync(this.path, "utf8"));
      const stored = (parsed as { choices?: unknown } | null)?.choices;
      if (typeof stored !== "object" || stored === null || Array.isArray(stored)) throw new Error('it has no "choices" object');
      if ((parsed as { build?: unknown }).build !== this.build) return this.choices;
      for (const [key, value] of Object.entries(stored)) {
        if (typeof value === "number" || typeof value === "string") this.choices.set(key, value);
      }
    } catch (problem) {
      console.warn(`turbine: ignoring the kernel cache ${this.path} (${(problem as Error).message}); its choices are measured again`);
    }
    return this.choices;
  }

  private save(): void {
    // Written whole to a file of this thread's own, then renamed over the cache: ranks tuning at
    // the same time never leave a half-written file.
    const temp = `${this.path}.${process.pid}.${threadId}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(temp, `${JSON.stringify({ version: 1, build: this.build, choices: Object.fromEntries(this.choices!) }, null, 1)}\n`);
      renameSync(temp, this.path);
    } catch (problem) {
      console.warn(`turbine: could not write the kernel cache ${this.path} (${(problem as Error).message}); choices stay in memory`);
    }
  }
}

/** The candidate whose fastest of TIMED_RUNS runs is fastest, candidates taking turns so drift hits each alike. */
function fastest<T extends Choice>(candidates: readonly T[], run: (choice: T) => void): T {
  const best = candidates.map(() => Number.POSITIVE_INFINITY);
  for (const c of candidates) run(c);
  for (let r = 0; r < TIMED_RUNS; r++) {
    candidates.forEach((c, i) => {
      const start = performance.now();
      run(c);
      best[i] = Math.min(best[i]!, performance.now() - start);
    });
  }
  return candidates[best.indexOf(Math.min(...best))]!;
}

let shared: KernelTuner | null = null;

/**
 * tuner.choose on this process's tuner (the file for this CPU model), with `run` given the
 * native addon's own kernels: a compile capture, which records the kernels ops call, never sees
 * a measurement. The default (the first candidate), unmeasured, off the native backend or with
 * TURBINE_KERNEL_TUNING=off.
 * @example const block = tunedChoice("attention", key, [64, 32, 128], (kernels, b) => kernels.attention(...));
 */
export function tunedChoice<T extends Choice>(kernel: string, shape: string, candidates: readonly T[], run: (kernels: Kernels, choice: T) => void): T {
  const mode = process.env.TURBINE_KERNEL_TUNING ?? "on";
  if (mode !== "on" && mode !== "off") throw new BackendSettingError(`TURBINE_KERNEL_TUNING must be "on" or "off", got ${JSON.stringify(mode)}`);
  if (backendName !== "native" || mode === "off") return candidates[0]!;
  shared ??= new KernelTuner(join(process.env.TURBINE_KERNEL_CACHE_DIR || cacheDir(), `kernels-${cpuModelKey()}.json`), addonBuild());
  const native = loadNative();
  return shared.choose(kernel, `${shape} threads ${native.getNumThreads()}`, candidates, (choice) => run(native, choice));
}

/** The native addon's build: the first 16 hex digits of its file's SHA-256. */
function addonBuild(): string {
  return createHash("sha256").update(readFileSync(addonPath())).digest("hex").slice(0, 16);
}
