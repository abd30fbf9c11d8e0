import { MEMORY_CATEGORIES, type MemoryCategory, type MemoryReport } from "../tensor/memory.js";
import type { ModelStateBytes } from "./model_state_bytes.js";

/** Peak bytes of a run by category, and `total`: the most held at once across categories. */
export type PeakMemory = Record<MemoryCategory | "total", number>;

const LABELS: Record<MemoryCategory, string> = {
  parameter: "parameters",
  gradient: "gradients",
  optimizer: "optimizer state",
  activation: "activations",
  other: "other",
};

/**
 * The peaks of a tracker report (this thread's tensors: data-loader workers count their own).
 * Each category's peak may fall at a different moment, so `total` is at most their sum.
 * @example const peak = peakMemory(memory.report());   // { parameter: 3276800, ..., total: ... }
 */
export function peakMemory(report: MemoryReport): PeakMemory {
  return { ...report.peak, total: report.peakTotal };
}

/**
 * Bytes in binary units, three significant digits.
 * @example formatBytes(3 * 1024 * 1024)   // "3.00 MiB"
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes,
    unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  // Three significant digits, but never exponent notation (1016 KiB, not "1.02e+3 KiB").
  return unit === 0 ? `${value} B` : `${value >= 1000 ? Math.round(value) : value.toPrecision(3)} ${units[unit]}`;
}

/**
 * One line for the end of a run, led by `label` (a launched job's summary names the rank measured).
 * @example formatPeakMemory(peak)   // "peak memory: parameters 3.13 MiB, gradients 3.13 MiB, ..., 61.2 MiB at once"
 */
export function formatPeakMemory(peak: PeakMemory, label = "peak memory"): string {
  const parts = MEMORY_CATEGORIES.map((c) => `${LABELS[c]} ${formatBytes(peak[c])}`);
  return `${label}: ${parts.join(", ")}; ${formatBytes(peak.total)} at once`;
}

/**
 * One line of a rank's model states (the tracker's peaks), led by `label`.
 * @example formatModelStateBytes(bytes)   // "model states: parameters 3.13 MiB, gradients 3.13 MiB, optimizer state 6.25 MiB (+ 0 B on disk); 12.5 MiB in memory"
 */
export function formatModelStateBytes(bytes: ModelStateBytes, label = "model states"): string {
  const { parameters, gradients, optimizer, offloaded, resident } = bytes;
  const parts = [
    `parameters ${formatBytes(parameters)}`,
    `gradients ${formatBytes(gradients)}`,
    `optimizer state ${formatBytes(optimizer)} (+ ${formatBytes(offloaded)} on disk)`,
  ];
  return `${label}: ${parts.join(", ")}; ${formatBytes(resident)} in memory`;
}
