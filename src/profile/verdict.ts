import type { MemoryCategory } from "../tensor/memory.js";
import { formatBytes } from "../train/memory_report.js";
import { dominantCategory, type TimeShares } from "./breakdown.js";

/** The four bottleneck classes of the seeds' method. */
export type Bottleneck = "data" | "compute" | "communication" | "memory";

/** The profiler's verdict: the class, the numbers behind it and the lever to pull first. */
export interface Verdict {
  bottleneck: Bottleneck;
  evidence: string;
  lever: string;
}

/**
 * The thresholds of the verdict, and why:
 * - memory: the peak reaches 90% of the budget. Past it a larger batch or model does not fit,
 *   and the budget is not all usable: the allocator's pool, the loader workers' buffers and
 *   Node's own heap sit outside the tracker, so the last 10% is not headroom.
 * - data, communication: a stall of at least 20% of the step. Removing it makes the step
 *   1/(1 − 0.2) = 1.25× faster, as much as the compute levers give here (bf16 is about 1.2× on a
 *   Zen 4 core, 1.8× on Zen 5; fused ops a few per cent to 1.3×), so below it compute is the
 *   better first target; above it the stall is. When both pass, the larger stall wins.
 * - compute otherwise, framework overhead included (it shrinks with fused ops and step capture).
 */
export const VERDICT_THRESHOLDS = { memoryOfBudget: 0.9, stallShare: 0.2 } as const;

/** What the verdict reads: the time shares (mean over ranks), the peak (the highest rank's) and the run's settings the levers name. */
export interface VerdictInput {
  shares: TimeShares;
  peakBytes: Record<MemoryCategory | "total", number>;
  memoryBudget: number;
  /** The collectives' overlapped share, weighted by their time (null: no collectives). */
  overlapped: number | null;
  settings: { numWorkers: number | null; precision: string; compression: string; zero: number; checkpointing: boolean | null };
}

const pct = (share: number): string => `${(100 * share).toFixed(1)}%`;

/**
 * Classifies the bottleneck (thresholds: VERDICT_THRESHOLDS) and names the lever the seeds
 * prescribe for it: data → loader workers, prefetch, caching; compute → bf16, fused ops;
 * communication → overlap, compression, hierarchical all-reduce; memory → activation
 * checkpointing, ZeRO, offload.
 * @example verdict({ shares: { compute: 0.5, data: 0.45, communication: 0, overhead: 0.05 }, ... }).bottleneck // "data"
 */
export function verdict(input: VerdictInput): Verdict {
  const { shares, peakBytes, memoryBudget, settings } = input;
  const { memoryOfBudget, stallShare } = VERDICT_THRESHOLDS;
  const used = peakBytes.total / memoryBudget;
  if (used >= memoryOfBudget) return memoryVerdict(input, used);
  const stalls = (["data", "communication"] as const).filter((k) => shares[k] >= stallShare).sort((a, b) => shares[b] - shares[a]);
  const split = `compute ${pct(shares.compute)}, data wait ${pct(shares.data)}, communication ${pct(shares.communication)} exposed, overhead ${pct(shares.overhead)} of the step`;
  if (stalls[0] === "data") {
    const workers = settings.numWorkers;
    return {
      bottleneck: "data",
      evidence: `the training thread waits for batches ${pct(shares.data)} of the step (≥ ${pct(stallShare)}): ${split}`,
      lever:
        workers === null
          ? "make batches ahead of the step: more loader workers, prefetch, cache decoded data"
          : `more loader workers (data.numWorkers, now ${workers}) with prefetch (data.prefetchFactor), decoded data cached (data.cache: memory), lighter augmentation`,
    };
  }
  if (stalls[0] === "communication") {
    const levers = [
      input.overlapped !== null && input.overlapped < 0.5
        ? `overlap communication with backward (only ${pct(input.overlapped)} of the collectives' time overlapped compute; ZeRO-2 overlaps its reduce-scatters, ZeRO-1 does not)`
        : "overlap communication with backward",
      settings.compression === "none"
        ? "gradient compression (parallel.compression.kind: bf16, powersgd, topk or onebit)"
        : `a stronger compression than ${settings.compression}`,
      "hierarchical all-reduce across nodes, and more work per all-reduce (a larger batch per rank or train.accumulate)",
    ];
    return {
      bottleneck: "communication",
      evidence: `the training thread is blocked in collectives ${pct(shares.communication)} of the step (≥ ${pct(stallShare)}): ${split}`,
      lever: levers.join("; "),
    };
  }
  const overheadNote =
    shares.overhead >= stallShare ? `; framework overhead is ${pct(shares.overhead)}: fewer, larger ops (fused kernels, step capture) cut it` : "";
  return {
    bottleneck: "compute",
    evidence: `no stall reaches ${pct(stallShare)} and memory is at ${pct(used)} of the budget: ${split}`,
    lever: `${settings.precision === "float32" ? "bf16 autocast (train.precision: bfloat16) for matmul, convolution and attention, then " : ""}fused ops (fused linear+GELU, add+LayerNorm, multi-tensor optimizer steps)${overheadNote}`,
  };
}

function memoryVerdict(input: VerdictInput, used: number): Verdict {
  const { peakBytes, memoryBudget, settings } = input;
  const top = dominantCategory(peakBytes);
  const lever: Record<MemoryCategory, string> = {
    activation:
      settings.checkpointing === false
        ? "activation checkpointing (model.checkpoint: true), smaller micro-batches with train.accumulate, bf16 activations"
        : "smaller micro-batches with train.accumulate, bf16 activations, pipeline or tensor parallelism",
    optimizer: `ZeRO-1 (parallel.zero: 1) to shard the optimizer state${settings.zero >= 1 ? " (already on: more ranks)" : ""}, or parallel.offload: disk`,
    gradient: "ZeRO-2 (parallel.zero: 2) to shard the gradients as well",
    parameter: "ZeRO-3 (parallel.zero: 3) to shard the parameters, or tensor/pipeline parallelism",
    other: "fewer live buffers",
  };
  const share = peakBytes[top] / Math.max(peakBytes.total, 1);
  return {
    bottleneck: "memory",
    evidence: `peak ${formatBytes(peakBytes.total)} is ${pct(used)} of the ${formatBytes(memoryBudget)} budget (≥ ${pct(VERDICT_THRESHOLDS.memoryOfBudget)}); ${top} memory is the largest part (${pct(share)} of the peak)`,
    lever: lever[top],
  };
}
