import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { kernels } from "../backends/index.js";
import { CharTokenizer } from "../data/tokenizer.js";
import { startThreads } from "../parallel/threads/spawn.js";
import { parseConfig } from "../train/config_file.js";
import type { Config } from "../train/config.js";
import type { Machine } from "./cluster.js";
import { layoutOf } from "./layouts.js";
import { type MeasuredRun, measureRun } from "./measured_run.js";
import { describeModel } from "./model_description.js";
import { stepTime } from "./step_time.js";

/** How a real training step on this machine compares with its kernels' isolated rates. */
export interface StepEfficiency {
  /**
   * The reference step's time predicted from the kernels' isolated rates over its measured time
   * alone (one rank, one thread): below 1 where a step's kernels find their inputs out of cache
   * and its allocations and autograd cost more than the calibration's hot loops.
   */
  efficiency: number;
  /** The reference step's time with another rank running the same beside it over its time alone (shared caches, memory bandwidth, clock), at least 1. */
  contention: number;
}

/**
 * The reference step: a small gpt of its own shape (2 blocks of width 192, 4 heads, 64 tokens,
 * 8 samples, float32 AdamW with clipping) on a text of its own, so the figures do not depend
 * on the model being planned.
 */
function referenceConfig(corpus: string): Config {
  return parseConfig(
    {
      model: { kind: "gpt", layers: 2, heads: 4, width: 192, context: 64 },
      data: { kind: "text", path: corpus, batchSize: 8, valBatches: 1 },
      optimizer: { kind: "adamw", lr: 1e-3 },
      train: { steps: 8, clipGradNorm: 1.0 },
    },
    "plan calibration's reference step",
  );
}

const TEXT = "In the beginning God created the heaven and the earth. And the earth was without form, and void.\n";

/**
 * Measures the reference step's efficiency and contention: its seconds per step on one
 * OpenMP thread alone, then on two worker threads of one thread each, side by side and
 * independent (no collective between them), against `predict`'s seconds for it on one thread
 * at the kernels' isolated rates.
 *
 * @example const { efficiency, contention } = await measureStepEfficiency(oneThreadMachine);   // { efficiency: 0.8, contention: 1.15 }
 */
export async function measureStepEfficiency(oneThread: Machine): Promise<StepEfficiency> {
  const dir = mkdtempSync(join(tmpdir(), "turbine-plan-step-"));
  try {
    const corpus = join(dir, "corpus.txt");
    writeFileSync(corpus, TEXT.repeat(400));
    const config = referenceConfig(corpus);
    const model = describeModel(config.model, CharTokenizer.fromText(TEXT).vocabSize);
    const predicted = stepTime(config, model, layoutOf(config, 1), oneThread).total;
    const options = { warmup: 2, steps: 6 };
    const before = kernels.getNumThreads();
    kernels.setNumThreads(1);
    let alone: number;
    try {
      alone = measureRun(config, undefined, options).secondsPerStep;
    } finally {
      kernels.setNumThreads(before);
    }
    const job = startThreads({
      size: 2,
      module: new URL("./measured_run_rank.js", import.meta.url),
      args: { config, ...options, independent: true },
      threadsPerWorker: 1,
    });
    const together = (await job.done).map((outcome) => {
      if (!outcome.ok) throw outcome.error;
      return (outcome.result as MeasuredRun).secondsPerStep;
    });
    return { efficiency: predicted / alone, contention: Math.max(1, Math.max(...together) / alone) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
