/**
 * `turbine bench`: the reference workloads in turbine and in their PyTorch twins, on the same
 * machine in the same run, as ratios. PyTorch runs in its best configuration: for every
 * workload and precision the harness first searches torch threads {1, 2} × OPENBLAS_NUM_THREADS
 * {1, 2}, and 2 threads under OMP_WAIT_POLICY=PASSIVE, in interleaved rounds (every setting once
 * a round, the order rotated, so a change of load on this shared machine hits all of them
 * alike), and keeps the setting with the best median; or it takes the recorded best
 * (bench/torch/best_settings.json). Then the two sides alternate (fresh processes each time,
 * the side that goes first alternating too) for several repeats: the ratio of the medians is
 * reported with the range of the repeats' own ratios. GFLOP/s count only the work done and are
 * set against the matmul limit measured in the same run.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { matmul } from "../src/ops/matmul.js";
import { packageRoot } from "../src/package_root.js";
import { randn } from "../src/tensor/random.js";
import { kernels } from "../src/backends/index.js";
import { tidy } from "../src/tensor/scope.js";
import { flopsPerUnit, type WorkloadName } from "./workloads.js";

export type Precision = "f32" | "bf16";

export interface CompareOptions {
  workloads: WorkloadName[];
  precision: Precision;
  /** Alternating repeats per workload (at least 5 for a recorded figure). */
  repeats: number;
  /** Interleaved rounds of PyTorch's thread search; 0 takes the recorded best settings. */
  searchRounds: number;
  /** Turbine's OpenMP threads (PyTorch is searched over 1 and 2). */
  threads: number;
  steps: Partial<Record<WorkloadName, number>>;
  warmup: number;
  /** Also run turbine with `train.compile` in the same alternation (a third side, compiled rows). */
  compile?: boolean;
  log: (line: string) => void;
}

export interface TorchSetting {
  threads: number;
  openblas: number;
  /** OMP_WAIT_POLICY for torch's OpenMP threads ("passive": sleep at once instead of spinning). */
  waitPolicy: "default" | "passive";
}

export interface CompareRow {
  workload: WorkloadName;
  precision: Precision;
  unit: string;
  turbine: number;
  torch: number;
  /** Ratio of the medians. */
  ratio: number;
  /** Smallest and largest ratio of one repeat's pair (turbine / PyTorch). */
  ratioRange: [number, number];
  torchSetting: TorchSetting;
  turbineGflops: number;
  torchGflops: number;
  /** bf16 rows: turbine's own f32 throughput, measured in the same alternation, and bf16 over it. */
  turbineF32?: number;
  overF32?: number;
  /** With `compile`: turbine's compiled throughput, its ratio to PyTorch's and that ratio's range over the repeats. */
  compiled?: { turbine: number; ratio: number; ratioRange: [number, number]; gflops: number };
}

// Long enough (about a second or more per run) that a run's median is stable on this noisy machine.
export const DEFAULT_STEPS: Record<WorkloadName, number> = { mlp: 100, cnn: 100, gpt: 30 };

export interface Result {
  throughput: number;
  unit: string;
  [key: string]: unknown;
}

/** Runs a command whose last stdout line is a JSON result; a failure names the command and its error output. */
export function runJson(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Result {
  const r = spawnSync(command, args, { encoding: "utf8", env, maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60 * 1000 });
  const last = r.stdout?.trim().split("\n").at(-1) ?? "";
  if (r.status !== 0 || !last.startsWith("{")) {
    throw new Error(`bench: ${command} ${args.join(" ")} failed (exit ${r.status ?? r.signal}):\n${(r.stderr ?? "").trim().split("\n").slice(-8).join("\n")}`);
  }
  return JSON.parse(last) as Result;
}

export function turbineRun(workload: WorkloadName, o: CompareOptions, extra: string[] = []): Result {
  const steps = o.steps[workload] ?? DEFAULT_STEPS[workload];
  return runJson(process.execPath, [
    join(packageRoot(), "dist", "bench", "workload.js"),
    "--workload",
    workload,
    "--threads",
    String(o.threads),
    "--precision",
    o.precision,
    "--steps",
    String(steps),
    "--warmup",
    String(o.warmup),
    "--json",
    ...extra,
  ]);
}

export function torchRun(workload: WorkloadName, o: CompareOptions, s: TorchSetting, extra: string[] = [], steps?: number): Result {
  const n = steps ?? o.steps[workload] ?? DEFAULT_STEPS[workload];
  // OpenBLAS picks its kernels for this CPU unless told otherwise; a forced core type (this
  // machine's environment sets Haswell) costs PyTorch up to 40%, so it is cleared.
  const { OPENBLAS_CORETYPE: _coretype, OPENBLAS_L2_SIZE: _l2, ...inherited } = process.env;
  const env: NodeJS.ProcessEnv = { ...inherited, OPENBLAS_NUM_THREADS: String(s.openblas) };
  if (s.waitPolicy === "passive") env.OMP_WAIT_POLICY = "PASSIVE";
  return runJson(
    "/usr/bin/python3",
    [
      join(packageRoot(), "bench", "torch", `${workload}.py`),
      "--threads",
      String(s.threads),
      "--precision",
      o.precision,
      "--steps",
      String(n),
      "--warmup",
      String(o.warmup),
      "--json",
      ...extra,
    ],
    env,
  );
}

/** The settings PyTorch is searched over. */
export const TORCH_SETTINGS: readonly TorchSetting[] = [
  ...[1, 2].flatMap((threads) => [1, 2].map((openblas) => ({ threads, openblas, waitPolicy: "default" as const }))),
  { threads: 2, openblas: 1, waitPolicy: "passive" },
  { threads: 2, openblas: 2, waitPolicy: "passive" },
];

interface RecordedSetting {
  threads: number;
  openblas_threads: number;
  wait_policy?: "passive";
}

/** The best setting recorded in bench/torch/best_settings.json for a workload and precision. */
export function recordedTorchSetting(workload: WorkloadName, precision: Precision): TorchSetting {
  const recorded = JSON.parse(readFileSync(join(packageRoot(), "bench", "torch", "best_settings.json"), "utf8")) as Record<
    string,
    Record<Precision, RecordedSetting>
  >;
  const r = recorded[workload]?.[precision];
  if (!r) throw new Error(`bench: best_settings.json has no ${workload} ${precision} entry`);
  return { threads: r.threads, openblas: r.openblas_threads, waitPolicy: r.wait_policy ?? "default" };
}

function describe(s: TorchSetting): string {
  return `${s.threads}/${s.openblas}${s.waitPolicy === "passive" ? " passive" : ""}`;
}

/**
 * PyTorch's fastest setting for a workload and precision on this machine: short runs of every
 * setting in `o.searchRounds` interleaved rounds (the order rotated each round), the best median
 * wins; with searchRounds 0, the recorded best.
 */
export function bestTorchSetting(workload: WorkloadName, o: CompareOptions): TorchSetting {
  if (o.searchRounds === 0) return recordedTorchSetting(workload, o.precision);
  const short = Math.max(5, Math.round((o.steps[workload] ?? DEFAULT_STEPS[workload]) / 2));
  const speeds: number[][] = TORCH_SETTINGS.map(() => []);
  for (let round = 0; round < o.searchRounds; round++) {
    for (let k = 0; k < TORCH_SETTINGS.length; k++) {
      const index = (k + round) % TORCH_SETTINGS.length;
      const s = TORCH_SETTINGS[index]!;
      const speed = torchRun(workload, o, s, [], short).throughput;
      speeds[index]!.push(speed);
      o.log(`  pytorch ${workload} ${o.precision} round ${round + 1}: ${describe(s)} (threads/OpenBLAS): ${speed.toFixed(0)}`);
    }
  }
  const medians = speeds.map(median);
  const best = medians.indexOf(Math.max(...medians));
  o.log(`  pytorch ${workload} ${o.precision}: best ${describe(TORCH_SETTINGS[best]!)}, median ${medians[best]!.toFixed(0)}`);
  return TORCH_SETTINGS[best]!;
}

export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/**
 * The machine's matmul limit (GFLOP/s) at 1024³ in a dtype, through turbine: the fastest of 15
 * products after a warm-up. A limit is a best case, so the fastest run, not the median: on a
 * shared host one slow stretch during the measurement would otherwise put a workload above 100%
 * of it (a median taken while another job ran once gave 411 bf16 GFLOP/s against ~720).
 */
export function matmulLimit(dtype: "float32" | "bfloat16", threads: number): number {
  kernels.setNumThreads(threads);
  return tidy(() => {
    const a = randn([1024, 1024], { dtype }),
      b = randn([1024, 1024], { dtype });
    for (let i = 0; i < 3; i++) matmul(a, b).dispose();
    let fastest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 15; i++) {
      const start = process.hrtime.bigint();
      matmul(a, b).dispose();
      fastest = Math.min(fastest, Number(process.hrtime.bigint() - start) / 1e9);
    }
    return (2 * 1024 ** 3) / fastest / 1e9;
  });
}

/**
 * Runs `sides` once each per repeat, the first side rotating from repeat to repeat, so neither
 * side always meets the machine first (or after the other's warm caches).
 */
export function alternate(repeats: number, sides: readonly (() => void)[]): void {
  for (let r = 0; r < repeats; r++) {
    for (let k = 0; k < sides.length; k++) sides[(k + r) % sides.length]!();
  }
}

/** Compares each workload: find PyTorch's best setting, then alternate the two sides. */
export function compare(o: CompareOptions): CompareRow[] {
  const rows: CompareRow[] = [];
  for (const workload of o.workloads) {
    o.log(`${workload} (${o.precision}): ${o.searchRounds ? "searching PyTorch's best setting" : "PyTorch's recorded best setting"}`);
    const setting = bestTorchSetting(workload, o);
    const ours: number[] = [],
      theirs: number[] = [],
      oursF32: number[] = [],
      oursCompiled: number[] = [];
    const lowPrecision = o.precision !== "f32";
    let unit = "";
    const sides = [
      () => void ours.push(turbineRun(workload, o).throughput),
      () => {
        const t = torchRun(workload, o, setting);
        theirs.push(t.throughput);
        unit = t.unit;
      },
      // Mixed precision is judged against turbine's own f32 too, in the same alternation.
      ...(lowPrecision ? [() => void oursF32.push(turbineRun(workload, { ...o, precision: "f32" }).throughput)] : []),
      ...(o.compile ? [() => void oursCompiled.push(turbineRun(workload, o, ["--compile"]).throughput)] : []),
    ];
    alternate(o.repeats, sides);
    for (let r = 0; r < o.repeats; r++) {
      const f32 = lowPrecision ? `, turbine f32 ${oursF32[r]!.toFixed(0)}` : "";
      const compiled = o.compile ? `, turbine compiled ${oursCompiled[r]!.toFixed(0)}` : "";
      o.log(`  repeat ${r + 1}/${o.repeats}: turbine ${ours[r]!.toFixed(0)}${f32}${compiled}, pytorch ${theirs[r]!.toFixed(0)} ${unit}`);
    }
    const pairRatios = ours.map((v, r) => v / theirs[r]!);
    const compiledRatios = oursCompiled.map((v, r) => v / theirs[r]!);
    const turbine = median(ours),
      torch = median(theirs);
    const turbineF32 = lowPrecision ? median(oursF32) : undefined;
    const flops = flopsPerUnit(workload) / 1e9;
    const compiled = o.compile ? median(oursCompiled) : undefined;
    rows.push({
      workload,
      precision: o.precision,
      unit,
      turbine,
      torch,
      ratio: turbine / torch,
      ratioRange: [Math.min(...pairRatios), Math.max(...pairRatios)],
      torchSetting: setting,
      turbineGflops: turbine * flops,
      torchGflops: torch * flops,
      ...(turbineF32 === undefined ? {} : { turbineF32, overF32: turbine / turbineF32 }),
      ...(compiled === undefined
        ? {}
        : {
            compiled: {
              turbine: compiled,
              ratio: compiled / torch,
              ratioRange: [Math.min(...compiledRatios), Math.max(...compiledRatios)],
              gflops: compiled * flops,
            },
          }),
    });
  }
  return rows;
}

/**
 * The time-to-quality runs as lines of text: each side's step and training seconds at its first
 * validation loss ≤ the target, per repeat, and the fastest recipe's wall time over PyTorch's.
 * @example ttqLines(timeToQuality(options)).forEach((line) => console.log(line))
 */
export function ttqLines(r: { turbine: Result[]; fastest: Result[]; pytorch: Result[] }): string[] {
  // turbine's runs report `reached`; the PyTorch twin reports reached_step and seconds_to_target.
  const reached = (run: Result): { step: number; train_s: number } | null =>
    (run.reached as { step: number; train_s: number } | null | undefined) ??
    (typeof run.reached_step === "number" ? { step: run.reached_step, train_s: Number(run.seconds_to_target) } : null);
  const cell = (run: Result) => {
    const at = reached(run);
    return at ? `step ${at.step}, ${at.train_s.toFixed(1)} s` : "not reached";
  };
  const lines = [
    ["turbine, shared recipe", r.turbine],
    ["turbine, fastest recipe", r.fastest],
    ["PyTorch, shared recipe", r.pytorch],
  ].map(([name, runs]) => `${(name as string).padEnd(24)} ${(runs as Result[]).map(cell).join(" | ")}`);
  const ratios = r.fastest.map((run, i) => {
    const [ours, theirs] = [reached(run), r.pytorch[i] ? reached(r.pytorch[i]) : null];
    return ours && theirs ? (ours.train_s / theirs.train_s).toFixed(2) : "–";
  });
  return [...lines, `fastest recipe / PyTorch wall time, per repeat: ${ratios.join(", ")}`];
}

/** turbine's fastest recipe to the gpt's validation loss ≤ 1.6 (bench/recipes/gpt-fastest.json). */
export const FASTEST_RECIPE = join("bench", "recipes", "gpt-fastest.json");

/**
 * The gpt trained to validation loss ≤ 1.6 by turbine and by PyTorch with the shared recipe,
 * and by turbine with its fastest recipe, each at its best setting, the three sides alternating
 * (the one that goes first rotating) for `o.repeats` repeats; returns every run, in order.
 */
export function timeToQuality(o: CompareOptions): { turbine: Result[]; fastest: Result[]; pytorch: Result[]; torchSetting: TorchSetting } {
  const setting = bestTorchSetting("gpt", o);
  const turbine: Result[] = [],
    fastest: Result[] = [],
    pytorch: Result[] = [];
  const side = (runs: Result[], name: string, run: () => Result) => () => {
    runs.push(run());
    o.log(`  ${name}: ${JSON.stringify(runs.at(-1))}`);
  };
  // Every side validates every 25 steps (outside the clock), so none is credited with a coarser
  // crossing than another.
  const ttq = ["--time-to-quality", "--eval-every", "25"];
  alternate(o.repeats, [
    side(turbine, "turbine", () => turbineRun("gpt", o, ttq)),
    side(fastest, "turbine fastest recipe", () => turbineRun("gpt", o, [...ttq, "--recipe", join(packageRoot(), FASTEST_RECIPE)])),
    side(pytorch, "pytorch", () => torchRun("gpt", o, setting, ttq)),
  ]);
  return { turbine, fastest, pytorch, torchSetting: setting };
}
