import { accessSync, constants, existsSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

import type { Command } from "commander";

import { inDistributedJob, initProcessGroup } from "../parallel/init.js";
import { formatProfile } from "../profile/format.js";
import { DEFAULT_TRACE_BYTES, profileTraining } from "../profile/profile_run.js";
import { formatBytes } from "../train/memory_report.js";
import { UsageError } from "./errors.js";
import { integerIn, numberAtLeast } from "./option_values.js";
import { trainConfig } from "./train.js";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The options of `turbine profile`, as commander gives them. */
export interface ProfileCommandOptions {
  set: string[];
  steps: number;
  warmup: number;
  trace?: string;
  traceMaxMb: number;
  memoryBudget?: number;
  json?: boolean;
}

/**
 * Refuses a --trace path that cannot be written before any step runs (not after the run): it is
 * not created here. `turbine launch` checks it once before the ranks start, then rank 0 again.
 * @example checkTracePath("gpt.trace.json");
 */
export function checkTracePath(path: string): void {
  if (path.trim() === "") throw new UsageError('profile: --trace "": give a file name', "e.g. --trace trace.json");
  const folder = dirname(resolve(path));
  if (!existsSync(folder) || !statSync(folder).isDirectory())
    throw new UsageError(`profile: --trace ${path}: the folder ${folder} does not exist`, "make it first or write the trace elsewhere");
  if (existsSync(path) && statSync(path).isDirectory())
    throw new UsageError(`profile: --trace ${path} is a folder; give a file name`, "e.g. --trace trace.json");
  try {
    accessSync(existsSync(path) ? path : folder, constants.W_OK);
  } catch (error) {
    throw new UsageError(
      `profile: --trace ${path} cannot be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      "write the trace elsewhere",
    );
  }
}

/**
 * `turbine profile [config]`: profiles a few training steps of a config (under `turbine launch`,
 * on every rank) and prints where the step goes, the slowest ops, the collectives, memory and
 * the bottleneck verdict with its lever; `--trace` writes a Chrome trace (one process per rank).
 * @example turbine profile gpt-char --steps 3 --trace gpt.trace.json
 */
export function registerProfile(program: Command): void {
  program
    .command("profile")
    .description(
      "profile a few training steps of a config: per-op forward and backward time, data wait, collectives and their overlap, memory, framework overhead, and the bottleneck (data, compute, communication or memory) with the lever to pull",
    )
    .argument("[config]", "config file, or the name of a built-in one (turbine train --list); default: the built-in default")
    .option("--set <path=value>", "override a config field, e.g. --set data.numWorkers=2 (repeatable)", collect, [])
    .option("--steps <n>", "training steps profiled, 1 to 1000", integerIn(1, 1000), 5)
    .option("--warmup <n>", "steps run before them, unprofiled (first-call costs), 0 to 1000", integerIn(0, 1000), 2)
    .option("--trace <file>", "write a Chrome trace-event JSON of the profiled steps (Perfetto, chrome://tracing): one process per rank")
    .option(
      "--trace-max-mb <mb>",
      "cap of the trace file: past it the shortest op events are dropped (and the file says so)",
      numberAtLeast(0.001),
      DEFAULT_TRACE_BYTES / 1e6,
    )
    .option(
      "--memory-budget <bytes>",
      "bytes a rank may use, e.g. 8e9 (default: this machine's memory shared by its ranks); a peak of 90% of it or more is a memory verdict",
      numberAtLeast(1),
    )
    .option("--json", "end with one JSON line: the profile (per rank), the verdict and the trace file's summary")
    .action(async (file: string | undefined, opts: ProfileCommandOptions) => {
      const config = trainConfig(file, { set: opts.set });
      // A rank of `turbine launch` profiles its part of the job; rank 0 prints the merged profile and writes the trace.
      const group = inDistributedJob() ? await initProcessGroup() : undefined;
      if (opts.trace !== undefined && (group?.rank ?? 0) === 0) checkTracePath(opts.trace);
      const report = profileTraining(config, {
        steps: opts.steps,
        warmup: opts.warmup,
        trace: opts.trace !== undefined,
        traceBytes: opts.traceMaxMb * 1e6,
        ...(opts.memoryBudget !== undefined ? { memoryBudget: opts.memoryBudget } : {}),
        ...(group ? { group } : {}),
      });
      if (report === null) return;
      let traceSummary: Record<string, unknown> | null = null;
      let out = formatProfile(report);
      if (opts.trace !== undefined && report.trace) {
        const text = JSON.stringify(report.trace);
        writeFileSync(opts.trace, text);
        const { droppedOps, note } = report.trace.otherData;
        traceSummary = { file: opts.trace, bytes: text.length, events: report.trace.traceEvents.length, droppedOps };
        out += `trace: ${opts.trace} (${report.trace.traceEvents.length} events, ${formatBytes(text.length)}; ${note}); open it in https://ui.perfetto.dev or chrome://tracing\n`;
      }
      process.stdout.write(out);
      if (opts.json) process.stdout.write(`${JSON.stringify({ ...report, trace: traceSummary })}\n`);
    });
}
