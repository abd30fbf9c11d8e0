/**
 * `turbine bench`: the reference workloads in turbine and in their PyTorch twins, on the same
 * machine in the same run, as ratios. PyTorch runs in its best configuration: for every
 * workload and precision the harness first tries torch threads {1, 2} × OPENBLAS_NUM_THREADS
 * {1, 2} and keeps the fastest. Then the two sides alternate (fresh processes each time) for
 * several repeats and the medians are compared. GFLOP/s are set against the matmul limit
 * measured in the same run.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { matmul } from "../src/ops/matmul.js";
import { packageRoot } from "../src/package_root.js";
import { randn } from "../src/tensor/random.js";
import { native } from "../src/tensor/native.js";
import { tidy } from "../src/tensor/scope.js";
import { flopsPerUnit, type WorkloadName } from "./workloads.js";

export type Precision = "f32" | "bf16";

export interface CompareOptions {
  workloads: WorkloadName[];
  precision: Precision;
  repeats: number;
  /** Turbine's OpenMP threads (PyTorch is searched over 1 and 2). */
  threads: number;
  steps: Partial<Record<WorkloadName, number>>;
  warmup: number;
  log: (line: string) => void;
}

export interface TorchSetting {
  threads: number;
  openblas: number;
}

export interface CompareRow {
  workload: WorkloadName;
  precision: Precision;
  unit: string;
  turbine: number;
  torch: number;
  ratio: number;
  torchSetting: TorchSetting;
  turbineGflops: number;
  torchGflops: number;
  /** bf16 rows: turbine's own f32 throughput, measured in the same alternation, and bf16 over it. */
  turbineF32?: number;
  overF32?: number;
}

// Long enough (about a second or more per run) that a run's median is stable on this noisy machine.
const DEFAULT_STEPS: Record<WorkloadName, number> = { mlp: 100, cnn: 100, gpt: 30 };

interface Result {
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
  return runJson(process.execPath, [join(packageRoot(), "dist", "bench", "workload.js"), "--workload", workload, "--threads", String(o.threads), "--precision", o.precision, "--steps", String(steps), "--warmup", String(o.warmup), "--json", ...extra]);
}

export function torchRun(workload: WorkloadName, o: CompareOptions, s: TorchSetting, extra: string[] = [], steps?: number): Result {
  const n = steps ?? o.steps[workload] ?? DEFAULT_STEPS[workload];
  // OpenBLAS picks its kernels for this CPU unless told otherwise; a forced core type (this
  // machine's environment sets Haswell) costs PyTorch up to 40%, so it is cleared.
  const { OPENBLAS_CORETYPE: _coretype, OPENBLAS_L2_SIZE: _l2, ...inherited } = process.env;
  const env = { ...inherited, OPENBLAS_NUM_THREADS: String(s.openblas) };
  return runJson("/usr/bin/python3", [join(packageRoot(), "bench", "torch", `${workload}.py`), "--threads", String(s.threads), "--precision", o.precision, "--steps", String(n), "--warmup", String(o.warmup), "--json", ...extra], env);
}

/** PyTorch's fastest thread setting for a workload and precision on this machine, from short runs. */
export function bestTorchSetting(workload: WorkloadName, o: CompareOptions): TorchSetting {
  const settings: TorchSetting[] = [1, 2].flatMap((threads) => [1, 2].map((openblas) => ({ threads, openblas })));
  const short = Math.max(5, Math.round((o.steps[workload] ?? DEFAULT_STEPS[workload]) / 2));
  let best = settings[0]!, bestSpeed = -1;
  for (const s of settings) {
    const speed = torchRun(workload, o, s, [], short).throughput;
    o.log(`  pytorch ${workload} ${o.precision}: threads ${s.threads}, OPENBLAS_NUM_THREADS ${s.openblas}: ${speed.toFixed(0)}`);
    if (speed > bestSpeed) [best, bestSpeed] = [s, speed];
  }
  return best;
}

export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** The machine's matmul rate (GFLOP/s) at 1024³ in a dtype, through turbine, measured now. */
export function matmulLimit(dtype: "float32" | "bfloat16", threads: number): number {
  native.setNumThreads(threads);
  return tidy(() => {
    const a = randn([1024, 1024], { dtype }), b = randn([1024, 1024], { dtype });
    for (let i = 0; i < 3; i++) matmul(a, b).dispose();
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const start = process.hrtime.bigint();
      matmul(a, b).dispose();
      times.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
    return (2 * 1024 ** 3) / median(times) / 1e9;
  });
}

/** Compares each workload: search PyTorch's best setting, then alternate the two sides. */
export function compare(o: CompareOptions): CompareRow[] {
  const rows: CompareRow[] = [];
  for (const workload of o.workloads) {
    o.log(`${workload} (${o.precision}): searching PyTorch's best thread setting`);
    const setting = bestTorchSetting(workload, o);
    const ours: number[] = [], theirs: number[] = [], oursF32: number[] = [];
    const lowPrecision = o.precision !== "f32";
    let unit = "";
    for (let r = 0; r < o.repeats; r++) {
      ours.push(turbineRun(workload, o).throughput);
      // Mixed precision is judged against turbine's own f32 too, in the same alternation.
      if (lowPrecision) oursF32.push(turbineRun(workload, { ...o, precision: "f32" }).throughput);
      const t = torchRun(workload, o, setting);
      theirs.push(t.throughput);
      unit = t.unit;
      const f32 = lowPrecision ? `, turbine f32 ${oursF32.at(-1)!.toFixed(0)}` : "";
      o.log(`  repeat ${r + 1}/${o.repeats}: turbine ${ours.at(-1)!.toFixed(0)}${f32}, pytorch ${theirs.at(-1)!.toFixed(0)} ${unit}`);
    }
    const turbine = median(ours), torch = median(theirs);
    const turbineF32 = lowPrecision ? median(oursF32) : undefined;
    const flops = flopsPerUnit(workload) / 1e9;
    rows.push({
      workload,
      precision: o.precision,
      unit,
      turbine,
      torch,
      ratio: turbine / torch,
      torchSetting: setting,
      turbineGflops: turbine * flops,
      torchGflops: torch * flops,
      ...(turbineF32 === undefined ? {} : { turbineF32, overF32: turbine / turbineF32 }),
    });
  }
  return rows;
}
