import type { Config } from "../src/train/config.js";
import { buildRun } from "../src/train/build.js";
import { Trainer } from "../src/train/trainer.js";
import type { TrainerOptions } from "../src/train/trainer_options.js";

/**
 * The Trainer's compile option for a bench config: its cache bound, no messages (a bench's
 * output is its result line); null where the config trains eagerly.
 * @example new Trainer({ ...buildRun(config), compile: quietCompile(config) })
 */
export function quietCompile(config: Config): TrainerOptions["compile"] {
  return config.train.compile ? { cacheSize: config.train.compileCacheSize, log: () => {} } : null;
}

/** A Trainer for a bench side and the seconds of each of its steps after the first `warmup`. */
export interface TimedTrainer {
  trainer: Trainer;
  stepSeconds: number[];
}

/**
 * Builds `config`'s run without evaluation and records every step's training time once past
 * `warmup` steps (benches compare medians of these).
 * @example const { trainer, stepSeconds } = timedTrainer(config, 2); trainer.fit({ steps: 7 });
 */
export function timedTrainer(config: Config, warmup: number): TimedTrainer {
  const stepSeconds: number[] = [];
  let last = 0;
  const trainer = new Trainer({
    ...buildRun(config),
    eval: undefined,
    clipGradNorm: config.train.clipGradNorm,
    compile: quietCompile(config),
    callbacks: [
      {
        onStepEnd: (info) => {
          if (info.step > warmup) stepSeconds.push(info.trainSeconds - last);
          last = info.trainSeconds;
        },
      },
    ],
  });
  return { trainer, stepSeconds };
}
