import type { Command } from "commander";

import { loadKjv } from "../data/kjv.js";
import { readTextFile } from "../data/corpus.js";
import { TokenFile } from "../data/token_file.js";
import { CharTokenizer } from "../data/tokenizer.js";
import { calibrate, calibratedMachine, calibrationPath, loadCalibration } from "../plan/calibration.js";
import { loadCluster, type Machine } from "../plan/cluster.js";
import { describeLayout, plan, type Plan } from "../plan/planner.js";
import { layoutOf, type Layout } from "../plan/layouts.js";
import type { Config } from "../train/config.js";
import { ConfigError } from "../train/config_file.js";
import { UsageError } from "./errors.js";
import { integerAtLeast, numberAtLeast } from "./option_values.js";
import { collect, trainConfig } from "./train.js";

interface PlanFlags {
  set: string[];
  ranks?: number;
  memoryPerRank?: number;
  cluster?: string;
  globalBatch?: number;
  vocab?: number;
  top: number;
  json?: boolean;
  calibrate?: boolean;
}

/** The gpt's vocabulary: the character set of its text (the KJV by default) or the token file's. */
export function dataVocab(config: Config): number {
  const data = config.data;
  if (data.kind === "tokens") {
    const file = TokenFile.open(data.path);
    const size = file.tokenizer.vocabSize;
    file.close();
    return size;
  }
  if (data.kind === "text") return CharTokenizer.fromText(data.path === undefined ? loadKjv() : readTextFile(data.path)).vocabSize;
  return 1;
}

/** This machine's calibration, measured now when the CPU model has none cached. */
export async function thisMachine(ranks: number): Promise<Machine> {
  let calibration = loadCalibration();
  if (!calibration) {
    process.stderr.write(`plan: no calibration of this CPU yet; measuring it (a few seconds, cached in ${calibrationPath()})\n`);
    calibration = await calibrate((line) => process.stderr.write(`plan: ${line}\n`));
  }
  return calibratedMachine(calibration, ranks);
}

/** The config's own layout on these ranks, or null when turbine would refuse it there. */
function configuredLayout(config: Config, ranks: number): Layout | null {
  try {
    return layoutOf(config, ranks);
  } catch (error) {
    if (error instanceof ConfigError) return null;
    throw error;
  }
}

const GiB = 2 ** 30;

/** The plan as text: the explanation, then the fastest layouts that fit. */
export function formatPlan(result: Plan, top: number, unit: { name: string; perSample: number }): string {
  const lines = [...result.explanation];
  const rows = result.fitting.slice(0, top);
  if (rows.length > 0) {
    lines.push("", `fastest ${rows.length} of ${result.fitting.length} that fit:`);
    for (const [i, p] of rows.entries()) {
      const rate = Math.round(p.samplesPerSecond * unit.perSample).toLocaleString("en-US");
      lines.push(
        `${String(i + 1).padStart(3)}. ${(p.time.total * 1000).toFixed(1).padStart(9)} ms/step  ${rate.padStart(12)} ${unit.name}/s  ${(p.memory.total / GiB).toFixed(2).padStart(8)} GiB  ${describeLayout(p.layout)}`,
      );
    }
  }
  return lines.join("\n");
}

/**
 * `turbine plan CONFIG --ranks N --memory-per-rank BYTES [--cluster FILE] [--json]`: the
 * layouts that fit, fastest first, with the reasons; `turbine plan --calibrate` measures this
 * machine for it.
 *
 * @example turbine plan gpt-char --ranks 8 --memory-per-rank 16e9 --cluster cluster.yaml
 */
export function registerPlan(program: Command): void {
  program
    .command("plan")
    .description(
      "plan a parallel layout: predict each layout's per-rank memory and step time (this machine's calibration, or a --cluster file), keep what fits, rank by speed and explain",
    )
    .argument("[config]", "config file, or the name of a built-in one (as turbine train)")
    .option("--set <path=value>", "override a config field, e.g. --set model.width=4096 (repeatable)", collect, [])
    .option("--ranks <n>", "ranks to plan for (default with --cluster: nodes × devicesPerNode)", integerAtLeast(1))
    .option("--memory-per-rank <bytes>", "memory each rank may use, in bytes, e.g. 80e9 (default with --cluster: memoryPerDevice)", numberAtLeast(1))
    .option("--cluster <file>", "YAML or JSON: nodes, devicesPerNode, memoryPerDevice, flops per precision, intraNode/interNode bandwidth and latency")
    .option(
      "--global-batch <n>",
      "samples per optimizer step across all ranks (default: what the config trains on these ranks, data.batchSize × train.accumulate × its data degree)",
      integerAtLeast(1),
    )
    .option("--vocab <n>", "the gpt's vocabulary size (default: read from its data)", integerAtLeast(1))
    .option("--top <n>", "layouts listed", integerAtLeast(1), 10)
    .option("--json", "one JSON object: the plan with its top layouts, each with memory and time by part")
    .option("--calibrate", "measure this machine's kernels, all-reduce and file bandwidth and cache them (then plan, if a config is given)")
    .action(async (file: string | undefined, flags: PlanFlags) => {
      if (flags.calibrate) {
        const calibration = await calibrate((line) => process.stderr.write(`plan: ${line}\n`));
        process.stderr.write(`plan: calibration of ${calibration.cpu} written to ${calibrationPath()}\n`);
        if (file === undefined) return;
      }
      const config = trainConfig(file, { set: flags.set });
      const cluster = flags.cluster === undefined ? null : loadCluster(flags.cluster);
      const ranks = flags.ranks ?? (cluster ? cluster.nodes * cluster.devicesPerNode : undefined);
      if (ranks === undefined) throw new UsageError("plan: --ranks is needed (or a --cluster file, whose devices it counts)", "see turbine plan --help");
      if (cluster && ranks > cluster.nodes * cluster.devicesPerNode)
        throw new UsageError(`plan: --ranks ${ranks} exceeds the cluster's ${cluster.nodes} × ${cluster.devicesPerNode} devices`, "see turbine plan --help");
      const memoryPerRank = flags.memoryPerRank ?? cluster?.memoryPerDevice ?? undefined;
      if (memoryPerRank === undefined)
        throw new UsageError("plan: --memory-per-rank is needed (or a --cluster file with memoryPerDevice)", "see turbine plan --help");
      const machine = cluster ?? (await thisMachine(ranks));
      const configured = configuredLayout(config, ranks);
      // What `turbine launch -n ranks` of this config trains per step (data.batchSize is per data rank).
      const globalBatch = flags.globalBatch ?? config.data.batchSize * config.train.accumulate * (configured?.data ?? ranks);
      const current = configured && configured.data * configured.batchSize * configured.accumulate === globalBatch ? { current: configured } : {};
      const vocab = config.model.kind === "gpt" ? (flags.vocab ?? dataVocab(config)) : 1;
      let result: Plan;
      try {
        result = plan(config, { ranks, memoryPerRank, machine, globalBatch, vocab, ...current });
      } catch (error) {
        if (error instanceof RangeError && error.message.startsWith("plan: ")) throw new UsageError(error.message, "see turbine plan --help");
        throw error;
      }
      const perSample = config.model.kind === "gpt" ? config.model.context : 1;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ...result, fitting: result.fitting.slice(0, flags.top), fittingCount: result.fitting.length })}\n`);
      } else {
        process.stdout.write(`${formatPlan(result, flags.top, { name: perSample > 1 ? "tokens" : "samples", perSample })}\n`);
      }
      if (result.fitting.length === 0) process.exitCode = 1;
    });
}
