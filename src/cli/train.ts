import type { Command } from "commander";

import { inDistributedJob, initProcessGroup } from "../parallel/init.js";
import { CollectiveError } from "../parallel/process_group.js";
import { type Config, DEFAULT_CONFIG } from "../train/config.js";
import { applyOverrides, ConfigError, configReference, parseConfig, readConfigFile } from "../train/config_file.js";
import { formatModelStateBytes, formatPeakMemory } from "../train/memory_report.js";
import { formatEpochs, formatThroughput } from "../train/progress_format.js";
import { progressMode } from "../train/progress_output.js";
import { REPORT_FILE, ReportCallback, writeRunReport } from "../report/report_callback.js";
import { resumeConfig } from "../train/resume_config.js";
import { InterruptedBeforeTraining, runTraining, type RunSummary } from "../train/run.js";
import { resumeTarget } from "../train/run_folder.js";
import { stopSignalReceived, watchStopSignals } from "../train/stop_signals.js";
import { formatBuiltinConfigs, resolveConfigFile } from "./config_names.js";
import { elasticSegment } from "./elastic_env.js";

/** Collects a repeatable option's values (--set a --set b). @example .option("--set <path=value>", "…", collect, []) */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Formats the config reference as a table (also used to write the README's). */
export function formatReference(): string {
  const rows = configReference();
  const width = Math.max(...rows.map((r) => r.path.length));
  return rows.map((r) => `${r.path.padEnd(width)}  ${r.type}${r.default ? ` = ${r.default}` : ""}\n${" ".repeat(width + 2)}${r.description}`).join("\n");
}

const wholeNumber = (value: number): string => Math.round(value).toLocaleString("en-US");

function printSummary(s: RunSummary, json: boolean, report: boolean): void {
  const eval_ = s.eval
    ? `${s.eval.accuracy !== undefined ? `accuracy ${(100 * s.eval.accuracy).toFixed(2)}%, ` : ""}loss ${s.eval.loss.toFixed(4)}`
    : "no evaluation";
  // Data wait and memory are measured on rank 0, which prints the summary.
  const ofRank0 = s.ranks > 1 ? " (rank 0)" : "";
  const lines = [
    `trained ${s.steps} steps (${formatEpochs(s.steps, s.steps_per_epoch)}) in ${s.train_s.toFixed(1)} s: ${formatThroughput(s.samples_per_s / s.ranks, s.ranks, s.unit, wholeNumber)}`,
    `evaluation: ${eval_}`,
    `data wait${ofRank0}: ${s.data_wait_s.toFixed(2)} s (${((100 * s.data_wait_s) / Math.max(s.train_s, 1e-9)).toFixed(1)}% of training)`,
    s.stopped ? `stopped early: ${s.stopped}` : null,
    formatPeakMemory(s.peak_bytes, `peak memory${ofRank0}`),
    formatModelStateBytes(s.model_state_bytes, `model states${ofRank0}`),
    s.comm_bytes === null ? null : `gradient communication${ofRank0}: ${wholeNumber(s.comm_bytes)} bytes sent per step`,
    s.compile === null
      ? null
      : `compile${ofRank0}: ${s.compile.compilations} step shape(s) compiled in ${s.compile.compile_ms.toFixed(0)} ms, ${s.compile.replays} steps replayed`,
    `checkpoint: ${s.checkpoint ?? "none"}`,
    `run folder: ${s.run_dir} (metrics.jsonl, config.json, summary.json${report ? `, ${REPORT_FILE}` : ""})`,
  ].filter((l) => l !== null);
  process.stdout.write(`${lines.join("\n")}\n`);
  if (json) {
    const { steps, epochs, train_s, samples_per_s, eval: evaluation, checkpoint, data_wait_s, peak_bytes, model_state_bytes, comm_bytes, compile } = s;
    const line = { steps, epochs, train_s, samples_per_s, eval: evaluation, checkpoint, data_wait_s, peak_bytes, model_state_bytes, comm_bytes, compile };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
}

/** A train command line as `turbine launch` checks it: its config, and the run it resumes. */
export interface TrainCommand {
  config: Config;
  resume?: string;
}

/**
 * The config `turbine train [file] [--set ...] [--resume RUN]` trains: a resumed run's own
 * (with the safe --set changes), or the file, name or built-in default with --set applied.
 * Exported so `turbine launch` can check a train command line before starting any rank.
 * @example const config = trainConfig("gpt-char", { set: ["train.steps=100"] });
 */
export function trainConfig(file: string | undefined, opts: { set: string[]; resume?: string }): Config {
  // "" is not the same as no config: a script whose variable came out empty would train the default.
  if (file === "") throw new ConfigError('config "": the path is empty; give a config file or a built-in name (turbine train --list), or none for the default');
  if (opts.resume !== undefined) {
    if (file) throw new ConfigError(`--resume continues the run's saved config: drop the config file ${file} (change safe fields with --set)`);
    return resumeConfig(resumeTarget(opts.resume).runDir, opts.set);
  }
  return parseConfig(applyOverrides(file ? readConfigFile(resolveConfigFile(file)) : DEFAULT_CONFIG, opts.set), file ?? "(built-in default)");
}

/**
 * `turbine train [config]`: trains the built-in cnn on Fashion-MNIST, a config file, or a
 * built-in config by name.
 * @example turbine train gpt-char --set train.steps=200
 */
export function registerTrain(program: Command): void {
  program
    .command("train")
    .description(
      "train a model: the built-in default (the cnn on Fashion-MNIST, 4 epochs), a built-in config by name (gpt-char, ...) or a config file (JSON or YAML)",
    )
    .argument("[config]", "config file, or the name of a built-in one (see --list); --help-config shows every field")
    .option("--list", "list the built-in configs (the shipped examples) by name")
    .option("--set <path=value>", "override a config field, e.g. --set train.epochs=5 (repeatable)", collect, [])
    .option(
      "--resume <run>",
      "continue a run (its folder, e.g. runs/cnn/version_0, or one of its checkpoints) with its saved config; --set may change only cadences, logging and threads",
    )
    .option(
      "--json",
      "end with one JSON line: { steps, epochs, train_s, samples_per_s, eval, checkpoint, data_wait_s, peak_bytes, model_state_bytes, comm_bytes }",
    )
    .option("--no-progress", "no progress bar or progress lines (evaluation results are still shown)")
    .option(
      "--report",
      `keep ${REPORT_FILE} in the run folder current: an HTML page of the run's plots, rewritten at each logged step and evaluation (see turbine report)`,
    )
    .option("--help-config", "print every config field with its type, default and meaning")
    .action(
      async (
        file: string | undefined,
        opts: { set: string[]; resume?: string; json?: boolean; progress: boolean; report?: boolean; helpConfig?: boolean; list?: boolean },
      ) => {
        if (opts.helpConfig || opts.list) {
          process.stdout.write(`${opts.list ? formatBuiltinConfigs() : formatReference()}\n`);
          return;
        }
        // A restart of `turbine launch --max-restarts` continues the run's own config.json (the
        // first segment saved it; the launcher may have changed its batch layout for fewer ranks).
        const segment = elasticSegment();
        const config = segment?.restart ? resumeConfig(segment.runDir, []) : trainConfig(file, opts);
        const resume = segment?.restart ? (segment.from ?? undefined) : opts.resume;
        // A rank of `turbine launch` trains data-parallel over its job's group.
        const group = inDistributedJob() ? await initProcessGroup() : undefined;
        // Ctrl-C or SIGTERM: the step in flight finishes, a checkpoint is written, and the run ends.
        const unwatch = watchStopSignals(progressMode() === "bar" ? [2] : []);
        let summary: RunSummary;
        try {
          const stopRequested = (): string | null => stopSignalReceived()?.name ?? null;
          const report = opts.report ? { callbacks: (runDir: string) => [new ReportCallback(runDir)] } : {};
          summary = runTraining(config, { resume, runDir: segment?.runDir, progress: opts.progress, stopRequested, ...(group ? { group } : {}), ...report });
        } catch (error) {
          // Stopped while the run was built (on another rank, this one's collective then failed).
          const stop = stopSignalReceived();
          if (!(error instanceof InterruptedBeforeTraining || (stop && error instanceof CollectiveError))) throw error;
          process.exitCode = stop?.exitCode ?? 130;
          if ((group?.rank ?? 0) === 0)
            process.stderr.write(`interrupted by ${stop?.name ?? (error as InterruptedBeforeTraining).reason} before training started; nothing was written\n`);
          return;
        } finally {
          unwatch();
        }
        // Every rank ends with the signal's code (under `turbine launch` the job's exit code).
        if (summary.interrupted !== null) process.exitCode = stopSignalReceived()?.exitCode ?? 130;
        if ((group?.rank ?? 0) !== 0) return;
        // The last rewrite: with the summary the run folder now holds.
        if (opts.report) writeRunReport(summary.run_dir);
        printSummary(summary, opts.json ?? false, opts.report ?? false);
        if (summary.interrupted !== null) {
          // The progress bar hides the cursor and turns line wrap off: make sure both are back.
          if (progressMode() === "bar") process.stderr.write("\x1b[?25h\x1b[?7h");
          const launch = group ? `turbine launch -n ${group.size}${group.backend === "mpi" ? " --backend mpi" : ""} -- ` : "turbine ";
          process.stderr.write(`interrupted by ${summary.interrupted} after step ${summary.steps}; resume with: ${launch}train --resume ${summary.run_dir}\n`);
        }
      },
    );
}
