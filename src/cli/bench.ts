import { InvalidArgumentError, Option, type Command } from "commander";
import { cpus } from "node:os";

import { compare, matmulLimit, timeToQuality, ttqLines, type CompareOptions, type CompareRow, type Precision } from "../../bench/compare.js";
import { WORKLOADS, workloadConfig, type WorkloadName } from "../../bench/workloads.js";
import { packageRoot } from "../package_root.js";
import { integerIn } from "./option_values.js";
import { formatOpTable, timeOps } from "../profile/op_timer.js";
import { kernels } from "../backends/index.js";
import { buildRun } from "../train/build.js";
import { MAX_KERNEL_THREADS } from "../train/config.js";
import { parseConfig } from "../train/config_file.js";
import { Trainer } from "../train/trainer.js";
import { UsageError } from "./errors.js";

function list(value: string): WorkloadName[] {
  const names = value.split(",").map((s) => s.trim()) as WorkloadName[];
  for (const n of names) if (!WORKLOADS.includes(n)) throw new InvalidArgumentError(`unknown workload ${JSON.stringify(n)}; expected ${WORKLOADS.join(", ")}`);
  return names;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")).join("\n");
}

function printRows(rows: CompareRow[], limit: number): void {
  const fmt = (v: number): string => Math.round(v).toLocaleString("en-US");
  const pct = (g: number): string => `${g.toFixed(0)} (${((100 * g) / limit).toFixed(0)}%)`;
  // bf16 runs also show turbine's own f32, measured alternately in the same run.
  const own = rows.some((r) => r.turbineF32 !== undefined);
  const compiled = rows.some((r) => r.compiled !== undefined);
  const range = (ratio: number, [low, high]: [number, number]): string => `${ratio.toFixed(2)} (${low.toFixed(2)}–${high.toFixed(2)})`;
  const header = [
    "workload",
    "precision",
    "turbine",
    "pytorch",
    "unit",
    "ratio (range)",
    ...(own ? ["turbine f32", "over f32"] : []),
    ...(compiled ? ["turbine compiled", "compiled ratio (range)", "compiled GFLOP/s"] : []),
    "pytorch threads/openblas",
    "turbine GFLOP/s",
    "pytorch GFLOP/s",
  ];
  const body = rows.map((r) => [
    r.workload,
    r.precision,
    fmt(r.turbine),
    fmt(r.torch),
    r.unit,
    range(r.ratio, r.ratioRange),
    ...(own ? [fmt(r.turbineF32!), r.overF32!.toFixed(2)] : []),
    ...(compiled ? [fmt(r.compiled!.turbine), range(r.compiled!.ratio, r.compiled!.ratioRange), pct(r.compiled!.gflops)] : []),
    `${r.torchSetting.threads}/${r.torchSetting.openblas}${r.torchSetting.waitPolicy === "passive" ? " passive" : ""}`,
    pct(r.turbineGflops),
    pct(r.torchGflops),
  ]);
  process.stdout.write(`${table([header, ...body])}\n`);
}

/** Per-op times of a few training steps of a workload, in this process. */
function opsTable(workload: WorkloadName, threads: number, steps: number, precision: Precision): void {
  kernels.setNumThreads(threads);
  const config = parseConfig(workloadConfig(workload, packageRoot(), steps + 3, precision), workload);
  const parts = buildRun(config);
  const trainer = new Trainer({ ...parts, eval: undefined, clipGradNorm: config.train.clipGradNorm });
  trainer.fit({ steps: 3 });
  const { table: rows, totalMs } = timeOps(() => trainer.fit({ steps: steps + 3 }));
  process.stdout.write(
    `${workload} ${precision}: ${(totalMs / steps).toFixed(1)} ms per training step (${steps} steps, ${threads} threads)\n${formatOpTable(rows, totalMs)}\n`,
  );
}

/** `turbine bench`: the reference workloads against their PyTorch twins. */
export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("run the reference workloads in turbine and in PyTorch (its best thread setting), alternating, and print the ratios")
    .option("--workloads <list>", "comma-separated: mlp, cnn, gpt", list, [...WORKLOADS])
    .addOption(new Option("--precision <p>", "f32 or bf16").choices(["f32", "bf16"]).default("f32"))
    // Counts are bounded so that a run can end: a million steps of the gpt take about a day.
    .option(
      "--repeats <n>",
      "alternating repeats per workload, the side that goes first alternating too (medians are compared), 1 to 1000",
      integerIn(1, 1000),
      5,
    )
    .option("--search-rounds <n>", "interleaved rounds of PyTorch's thread search, 0 to 100; 0: its recorded best settings", integerIn(0, 100), 3)
    .option("--threads <n>", `turbine's threads (1 to ${MAX_KERNEL_THREADS})`, integerIn(1, MAX_KERNEL_THREADS), 2)
    .option("--steps <n>", "timed steps per run, 1 to 1000000 (default: mlp 100, cnn 100, gpt 30)", integerIn(1, 1_000_000))
    .option("--warmup <n>", "untimed steps before them, 0 to 1000000", integerIn(0, 1_000_000), 5)
    .option("--time-to-quality", "train the gpt to validation loss ≤ 1.6 on both sides (minutes each)")
    .addOption(new Option("--ops <workload>", "instead: the per-op time table of a few training steps of one workload").choices(WORKLOADS))
    .option("--compile", "also run turbine with train.compile, in the same alternation: compiled rows beside the eager ones (--warmup of at least 3)")
    .option("--json", "one JSON object per row: { workload, precision, turbine, torch, unit, ratio } (bf16: and turbineF32, overF32; --compile: and compiled)")
    .action(
      (opts: {
        workloads: WorkloadName[];
        precision: string;
        repeats: number;
        searchRounds: number;
        threads: number;
        steps?: number;
        warmup: number;
        timeToQuality?: boolean;
        compile?: boolean;
        ops?: string;
        json?: boolean;
      }) => {
        if (opts.ops) {
          opsTable(opts.ops as WorkloadName, opts.threads, opts.steps ?? 5, opts.precision as Precision);
          return;
        }
        const log = (line: string): void => void process.stderr.write(`${line}\n`);
        const steps = opts.steps ? Object.fromEntries(opts.workloads.map((w) => [w, opts.steps!])) : {};
        const o: CompareOptions = {
          workloads: opts.workloads,
          precision: opts.precision as Precision,
          repeats: opts.repeats,
          searchRounds: opts.searchRounds,
          threads: opts.threads,
          steps,
          warmup: opts.warmup,
          compile: opts.compile ?? false,
          log,
        };
        // The compiled side records its first two steps eagerly; those must stay out of the timing.
        if (o.compile && o.warmup < 3)
          throw new UsageError(`bench: --compile needs --warmup of at least 3 (a compiled step records its first two steps eagerly), got ${o.warmup}`);
        if (o.compile && opts.timeToQuality) throw new UsageError("bench: --compile applies to the throughput rows, not to --time-to-quality");
        const heading = `turbine bench, ${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? "cpu"}, ${cpus().length} cores`;
        if (opts.timeToQuality) {
          const runs = timeToQuality(o);
          process.stdout.write(opts.json ? `${heading}\n${JSON.stringify(runs)}\n` : `${heading}\n${ttqLines(runs).join("\n")}\n`);
          return;
        }
        const dtype = o.precision === "f32" ? "float32" : "bfloat16";
        const before = matmulLimit(dtype, opts.threads);
        const rows = compare(o);
        // Measured again after the workloads, the higher figure kept: a limit taken once, in a
        // slow moment of a shared host, would flatter every percentage below it.
        const limit = Math.max(before, matmulLimit(dtype, opts.threads));
        process.stdout.write(
          `${heading}; matmul limit (1024³, ${o.precision}, ${opts.threads} threads, fastest before and after): ${limit.toFixed(0)} GFLOP/s\n`,
        );
        if (opts.json)
          for (const r of rows)
            process.stdout.write(
              `${JSON.stringify({ workload: r.workload, precision: r.precision, turbine: r.turbine, torch: r.torch, unit: r.unit, ratio: r.ratio, ratioRange: r.ratioRange, torchSetting: r.torchSetting, turbineF32: r.turbineF32, overF32: r.overF32, compiled: r.compiled })}\n`,
            );
        else printRows(rows, limit);
      },
    );
}
