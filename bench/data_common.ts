/**
 * What the data-loading benchmarks share: the cnn workload with random crop and flip, and a
 * timed training run that records each step's time and its wait for data.
 */
import { FashionMNIST } from "../src/data/fashion_mnist.js";
import type { TransformSpec } from "../src/data/transforms/compose.js";
import { packageRoot } from "../src/package_root.js";
import { buildRun } from "../src/train/build.js";
import type { ConfigInput } from "../src/train/config.js";
import { parseConfig } from "../src/train/config_file.js";
import { Trainer } from "../src/train/trainer.js";
import { median } from "./harness.js";
import { workloadConfig } from "./workloads.js";

/** The augmentation of the data benchmarks: pad 2 and crop back to 28×28, then flip half the images. */
export const CNN_AUGMENT: TransformSpec[] = [{ kind: "randomCrop", padding: 2, fill: FashionMNIST.black }, { kind: "randomHorizontalFlip" }];

/** The cnn workload (batch 128) with random crop and flip, its batches made by `numWorkers` workers. */
export function augmentedCnn(steps: number, numWorkers: number): ConfigInput {
  const base = workloadConfig("cnn", packageRoot(), steps);
  return { ...base, data: { ...(base.data as object), kind: "fashion-mnist", numWorkers, augment: CNN_AUGMENT } } as ConfigInput;
}

/** Per-step seconds of a run (its wait for data included) and of its wait alone. */
export interface TimedRun {
  step: number[];
  wait: number[];
}

/**
 * Trains a config for warmup + timed steps and returns the timed steps' times; the loader's
 * workers are stopped at the end.
 * @example const run = timeTraining(augmentedCnn(80, 1), 20);
 */
export function timeTraining(raw: ConfigInput, warmup: number): TimedRun {
  const parts = buildRun(parseConfig(raw, "bench"));
  const timed: TimedRun = { step: [], wait: [] };
  let last = 0;
  const trainer = new Trainer({
    model: parts.model,
    optimizer: parts.optimizer,
    task: parts.task,
    train: parts.train,
    callbacks: [
      {
        onStepEnd: (info) => {
          if (info.step > warmup) {
            timed.step.push(info.trainSeconds - last);
            timed.wait.push(info.dataWait);
          }
          last = info.trainSeconds;
        },
      },
    ],
  });
  try {
    trainer.fit({ steps: parts.totalSteps });
  } finally {
    parts.train.close();
  }
  return timed;
}

/** The median step time and the share of all timed time spent waiting for data. */
export function summarise(run: TimedRun): { stepMs: number; waitShare: number } {
  const total = run.step.reduce((a, b) => a + b, 0);
  return { stepMs: 1000 * median(run.step), waitShare: run.wait.reduce((a, b) => a + b, 0) / total };
}
