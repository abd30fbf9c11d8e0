import type { ProcessGroup } from "../process_group.js";
import type { Action, ScheduleName } from "./schedule.js";

/**
 * How `PipelineParallel` cuts and runs a model, and what its trace records.
 * @example new PipelineParallel(model, group, { schedule: "1f1b", microBatches: 4 } satisfies PipelineOptions);
 */
export interface PipelineOptions {
  /** gpipe, 1f1b (default) or interleaved. */
  schedule?: ScheduleName;
  /** Micro-batches each batch is split into (default 1): as even as its rows allow, and a batch of fewer rows into one per row. */
  microBatches?: number;
  /** Chunks per rank with the interleaved schedule (default 2). */
  virtualStages?: number;
  /** Layers of each part (stage, or chunk when interleaved) by hand; default: balanced by measured forward time. */
  stageLayers?: number[];
  /** Data parallelism across pipelines: gradients are averaged over this group after each step's backward. */
  dataGroup?: ProcessGroup | null;
  /**
   * 1: ZeRO-1 over `dataGroup`: each stage's optimizer state and master weights are sharded
   * across its data ranks, the gradients reduce-scattered once per step (default 0: DDP's all-reduce).
   */
  zero?: 0 | 1;
  /**
   * The tensor-parallel group of a model split Megatron-style (a TensorParallelGPT's layers):
   * the stages' cut is agreed over it, its split parameters count once per rank and its
   * replicated ones once in the gradient norm, and checkpoints gather the full tensors over it.
   */
  tensorGroup?: ProcessGroup | null;
  /** Record when each action of the last runMicroBatch started and ended (`trace`), for measuring the bubble. */
  trace?: boolean;
}

/** An action of the last micro-batch run and when it ran (performance.timeOrigin + now, ms). */
export interface TracedAction extends Action {
  start: number;
  end: number;
}

/** A send or receive of the last micro-batch run and when it ran (performance.timeOrigin + now, ms). */
export interface TracedExchange {
  kind: "forward" | "backward";
  micro: number;
  /** This rank sent it (else received it). */
  sent: boolean;
  start: number;
  end: number;
}
