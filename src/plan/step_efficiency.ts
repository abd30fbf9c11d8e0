import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { kernels } from "../backends/index.js";
import { CharTokenizer } from "../data/tokenizer.js";
import { startThreads } from "../parallel/threads/spawn.js";
import { parseConfig } from "../train/config_file.js";
import type { Config } from "../train/config.js";
import type { Link, Machine, Precision } from "./cluster.js";
import { layoutOf } from "./layouts.js";
import { type MeasuredRun, measureRun } from "./measured_run.js";
import { describeModel } from "./model_description.js";
import { allReduceSeconds, gatherSeconds, stepTime } from "./step_time.js";

/** How a real training step on this machine compares with its kernels' isolated rates. */
export interface StepEfficiency {
  /**
   * Per compute precision, the reference step's time predicted from the kernels' isolated rates
   * over its measured time alone (one rank, one thread): below 1 where a step's kernels find
   * their inputs out of cache and its allocations, casts and autograd cost more than the
   * calibration's hot loops.
   */
  efficiency: { float32: number; bfloat16: number };
  /** The reference step's time with another rank running the same beside it over its time alone (shared caches, memory bandwidth, clock), at least 1. */
  contention: number;
  /**
   * Seconds an all-reduce inside the reference step under tensor parallelism (2 ranks) blocks
   * beyond the link model's time for it: the ranks' jitter, which every collective inside
   * forward and backward waits out (Machine.collectiveWait).
   */
  collectiveWait: number;
  /** Seconds a ZeRO-3 all-gather inside the reference step (2 ranks) blocks beyond the link model's time, its prefetch included (Machine.gatherWait). */
  gatherWait: number;
}

/**
 * The reference step: a small gpt of its own shape (2 blocks of width 192, 4 heads, 64 tokens,
 * 8 samples, AdamW with clipping) on a text of its own, so the figures do not depend on the
 * model being planned.
 */
function referenceConfig(corpus: string, change: { precision?: Precision; tensor?: number; zero?: number } = {}): Config {
  return parseConfig(
    {
      model: { kind: "gpt", layers: 2, heads: 4, width: REFERENCE_WIDTH, context: REFERENCE_CONTEXT },
      data: { kind: "text", path: corpus, batchSize: REFERENCE_BATCH, valBatches: 1 },
      optimizer: { kind: "adamw", lr: 1e-3 },
      train: { steps: 8, clipGradNorm: 1.0, precision: change.precision ?? "float32" },
      parallel: { tensor: change.tensor ?? 1, zero: change.zero ?? 0 },
    },
    "plan calibration's reference step",
  );
}

const [REFERENCE_WIDTH, REFERENCE_CONTEXT, REFERENCE_BATCH] = [192, 64, 8];

const TEXT = "In the beginning God created the heaven and the earth. And the earth was without form, and void.\n";

/**
 * Measures the reference step: its seconds per step on one OpenMP thread alone, in float32 and
 * in bfloat16, against `oneThread`'s prediction for it (the kernels' isolated rates); the same
 * on two worker threads of one thread each, side by side and independent (no collective
 * between them); and on two ranks under tensor parallelism and under ZeRO-3, how long its
 * all-reduces and all-gathers block beyond `link`'s time for them.
 *
 * @example const { efficiency, contention, collectiveWait } = await measureStepEfficiency(oneThreadMachine, threadsLink);
 */
export async function measureStepEfficiency(oneThread: Machine, link: Link): Promise<StepEfficiency> {
  const dir = mkdtempSync(join(tmpdir(), "turbine-plan-step-"));
  try {
    const corpus = join(dir, "corpus.txt");
    writeFileSync(corpus, TEXT.repeat(400));
    const options = { warmup: 2, steps: 6 };
    const alone = (precision: Precision): { predicted: number; measured: number } => {
      const config = referenceConfig(corpus, { precision });
      const model = describeModel(config.model, CharTokenizer.fromText(TEXT).vocabSize);
      const before = kernels.getNumThreads();
      kernels.setNumThreads(1);
      try {
        return { predicted: stepTime(config, model, layoutOf(config, 1), oneThread).total, measured: measureRun(config, undefined, options).secondsPerStep };
      } finally {
        kernels.setNumThreads(before);
      }
    };
    const [f32, bf16] = [alone("float32"), alone("bfloat16")];
    const together = await onTwoThreads<MeasuredRun>("./measured_run_rank.js", { config: referenceConfig(corpus), ...options, independent: true });
    const blocked = await onTwoThreads<number>("./collective_wait_rank.js", { config: referenceConfig(corpus, { tensor: 2 }), kind: "allReduce", ...options });
    const gathering = referenceConfig(corpus, { zero: 3 });
    const gathered = await onTwoThreads<number>("./collective_wait_rank.js", { config: gathering, kind: "allGather", ...options });
    // Most of its all-reduces carry the residual stream of the batch (the loss's three are smaller).
    const streamBytes = REFERENCE_BATCH * REFERENCE_CONTEXT * REFERENCE_WIDTH * 4;
    const reference = describeModel(gathering.model, CharTokenizer.fromText(TEXT).vocabSize);
    const unitBytes = (4 * reference.parameters) / reference.layers.reduce((n, l) => n + l.parameterUnits, 0);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    return {
      efficiency: { float32: f32.predicted / f32.measured, bfloat16: bf16.predicted / bf16.measured },
      contention: Math.max(1, Math.max(...together.map((r) => r.secondsPerStep)) / f32.measured),
      collectiveWait: Math.max(0, mean(blocked) - allReduceSeconds(2, streamBytes, link)),
      gatherWait: Math.max(0, mean(gathered) - gatherSeconds(2, unitBytes, link)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each rank's result of `module` (in this folder) on a threads job of 2 ranks of one OpenMP thread. */
async function onTwoThreads<T>(module: string, args: unknown): Promise<T[]> {
  const job = startThreads({ size: 2, module: new URL(module, import.meta.url), args, threadsPerWorker: 1 });
  return (await job.done).map((outcome) => {
    if (!outcome.ok) throw outcome.error;
    return outcome.result as T;
  });
}
