import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";

import { kernels } from "../backends/index.js";
import { cacheDir } from "../data/cache.js";
import type { Link, Machine, Precision } from "./cluster.js";
import { measureDisk, measureKernels, measureThreadsLink, measureZero3Unit, type KernelRates } from "./measure.js";
import { measureStepEfficiency, type StepEfficiency } from "./step_efficiency.js";

/** This machine's measured figures, cached per CPU model (`turbine plan --calibrate`). */
export interface Calibration {
  /** 5: with a real step's efficiency per precision, contention and collectives' waits (an older file is measured again). */
  version: 5;
  cpu: string;
  cores: number;
  /** ISO time of the measurement. */
  measured: string;
  /** Kernel rates of one rank by its OpenMP thread count ("1", "2", …: powers of two up to the cores). */
  byThreads: Record<string, KernelRates>;
  /** The threads backend's all-reduce between 2 ranks of this machine, as a ring's per-link latency and bandwidth. */
  threadsLink: Link;
  /** A reference training step against the kernel rates (1 thread, per precision), 2 of them side by side against one alone, and its collectives' wait under tensor parallelism. */
  step: StepEfficiency;
  /** Seconds per ZeRO-3 unit and accumulation step beyond its bytes (its gathers' and reduce-scatter's framework cost), 2 ranks. */
  zero3Unit: number;
  /** Bytes per second written and read back through a file (disk offload). */
  diskBandwidth: number;
}

const CPU = (): string => cpus()[0]?.model.trim() ?? "unknown cpu";

/** The cache file of this CPU model's calibration. @example calibrationPath() // ~/.cache/turbine/plan/calibration-AMD_EPYC_9B45.json */
export function calibrationPath(cpu: string = CPU()): string {
  return join(cacheDir(), "plan", `calibration-${cpu.replace(/[^A-Za-z0-9]+/g, "_")}.json`);
}

/** This CPU model's cached calibration, or null when it has none (or an unreadable one). @example loadCalibration()?.threadsLink */
export function loadCalibration(path: string = calibrationPath()): Calibration | null {
  try {
    const c = JSON.parse(readFileSync(path, "utf8")) as Calibration;
    return c.version === 5 && c.cpu === CPU() && typeof c.byThreads === "object" ? c : null;
  } catch {
    return null;
  }
}

/**
 * Measures this machine (each kernel class for about a tenth of a second at each thread
 * count, a threads-backend all-reduce between 2 ranks, a file written and read back) and
 * caches the figures under the CPU model's name. Takes a few seconds.
 *
 * @example const calibration = await calibrate((line) => console.error(line));
 */
export async function calibrate(log: (line: string) => void = () => {}, path: string = calibrationPath()): Promise<Calibration> {
  const cores = cpus().length;
  const before = kernels.getNumThreads();
  const byThreads: Record<string, KernelRates> = {};
  try {
    for (let t = 1; t <= cores; t *= 2) {
      log(`calibrating kernels on ${t} thread${t > 1 ? "s" : ""}`);
      kernels.setNumThreads(t);
      byThreads[String(t)] = measureKernels();
    }
  } finally {
    kernels.setNumThreads(before);
  }
  log("calibrating the threads backend's all-reduce (2 ranks)");
  const threadsLink = await measureThreadsLink();
  log("calibrating a reference training step: alone in f32 and bf16, beside another, under tensor parallelism and ZeRO-3 (1 thread each)");
  const step = await measureStepEfficiency(kernelMachine(byThreads["1"]!), threadsLink);
  log("calibrating ZeRO-3's cost per unit (2 ranks)");
  const zero3Unit = await measureZero3Unit();
  log("calibrating file bandwidth (disk offload)");
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const calibration: Calibration = {
    version: 5,
    cpu: CPU(),
    cores,
    measured: new Date().toISOString(),
    byThreads,
    threadsLink,
    step,
    zero3Unit,
    diskBandwidth: measureDisk(dir),
  };
  writeFileSync(`${path}.tmp`, `${JSON.stringify(calibration, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return calibration;
}

/** Linear interpolation of y over x on a log scale, clamped to the measured range. */
function interpolate(points: readonly { size: number; flops: number }[], size: number): number {
  const sorted = [...points].sort((a, b) => a.size - b.size);
  if (size <= sorted[0]!.size) return sorted[0]!.flops;
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (size <= b.size) return a.flops + ((b.flops - a.flops) * Math.log(size / a.size)) / Math.log(b.size / a.size);
  }
  return sorted[sorted.length - 1]!.flops;
}

/** What a machine is besides its kernel rates. */
type MachineRest = Pick<Machine, "source" | "devicesPerNode" | "zero3Unit" | "diskBandwidth" | "intraNode" | "interNode" | "collectiveWait" | "gatherWait">;

/**
 * A machine of one rank's kernel rates, each times `speed` and each call's cost over it; the
 * products and attention also times `lowPrecision` at a precision below float32 (what a
 * reduced-precision step keeps of its kernels' rates against a float32 one's).
 */
function machineOf(rates: KernelRates, speed: number, lowPrecision: number, rest: MachineRest): Machine {
  const matmul = (p: Precision): { size: number; flops: number }[] => (p === "float32" ? rates.matmul.float32 : rates.matmul.bfloat16);
  const of = (p: Precision): number => (p === "float32" ? speed : speed * lowPrecision);
  return {
    ...rest,
    nodes: 1,
    memoryPerDevice: null,
    matmulFlops: (p, size) => of(p) * interpolate(matmul(p), size),
    matmulBackward: rates.matmulBackward,
    attentionFlops: (p, context) => of(p) * interpolate(p === "float32" ? rates.attention.float32 : rates.attention.bfloat16, context),
    attentionBackward: rates.attentionBackward,
    elementwise: { forward: speed * rates.elementwise.forward, training: speed * rates.elementwise.training },
    normalization: { forward: speed * rates.normalization.forward, training: speed * rates.normalization.training },
    optimizerRate: speed * rates.optimizer,
    optimizerCall: rates.optimizerCall / speed,
    clipRate: speed * rates.clip,
    clipCall: rates.clipCall / speed,
    kernelCall: rates.kernelCall / speed,
    autogradCall: rates.autogradCall / speed,
  };
}

/** One rank of one thread at the kernels' isolated rates: what the reference step is predicted on. */
function kernelMachine(rates: KernelRates): Machine {
  const link = { latency: 0, bandwidth: Infinity };
  return machineOf(rates, 1, 1, {
    source: "kernel rates",
    devicesPerNode: 1,
    zero3Unit: 0,
    diskBandwidth: Infinity,
    intraNode: link,
    interNode: link,
    collectiveWait: 0,
    gatherWait: 0,
  });
}

/**
 * This machine as `ranks` ranks of the threads backend: each rank gets cores / ranks OpenMP
 * threads (at least 1; with more ranks than cores they share the cores, so each gets that share
 * of one thread's rate), its kernels at the calibrated rates for that thread count times the
 * reference step's efficiency (a real step's kernels run below their isolated rates), slowed by
 * the reference step's contention where ranks run beside each other, and the calibrated
 * all-reduce link between ranks.
 *
 * @example const machine = calibratedMachine(loadCalibration()!, 2);
 */
export function calibratedMachine(c: Calibration, ranks: number): Machine {
  const threads = Math.max(1, Math.floor(c.cores / ranks));
  const measured = Object.keys(c.byThreads)
    .map(Number)
    .filter((t) => t <= threads);
  const rates = c.byThreads[String(Math.max(1, ...measured))]!;
  // Oversubscribed: ranks × 1 thread on fewer cores.
  const share = Math.min(1, c.cores / (ranks * threads));
  // Ranks beside each other share caches, memory bandwidth and the clock.
  const { efficiency } = c.step;
  const speed = (share * efficiency.float32) / (ranks > 1 ? c.step.contention : 1);
  return machineOf(rates, speed, efficiency.bfloat16 / efficiency.float32, {
    source: `calibrated on ${c.cpu} (${c.cores} cores, ${c.measured.slice(0, 10)}), ${threads} thread${threads > 1 ? "s" : ""} per rank`,
    devicesPerNode: ranks,
    zero3Unit: c.zero3Unit / share,
    diskBandwidth: c.diskBandwidth,
    intraNode: c.threadsLink,
    interNode: c.threadsLink,
    collectiveWait: c.step.collectiveWait,
    gatherWait: c.step.gatherWait,
  });
}
