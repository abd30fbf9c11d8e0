/**
 * One rank of bench/ps.ts: the mlp workload (examples/mlp.json) under parallel.mode "ps" through
 * runTraining. Rank 0, a worker, is the slowed one: after 10 steps at its own pace it sleeps
 * twice its mean step time (of steps 6 to 10, past the first steps' warm-up) after every step
 * (3× slower). It records, from the start of training,
 * the seconds of each evaluation and stops every worker (a shared flag) at the first one at or
 * above the target accuracy.
 */
import { performance } from "node:perf_hooks";

import type { ProcessGroup } from "../src/parallel/process_group.js";
import type { Callback } from "../src/train/callbacks.js";
import { parseConfig, readConfigFile } from "../src/train/config_file.js";
import { runTraining } from "../src/train/run.js";
import { packageRoot } from "../src/package_root.js";
import { join } from "node:path";

export interface PsBenchArgs {
  staleness: number | "inf";
  servers: number;
  target: number;
  epochs: number;
  evalEvery: number;
  outDir: string;
  /** One Int32 word: set when the target is reached. */
  stop: SharedArrayBuffer;
}

export interface PsBenchResult {
  /** Seconds from the start of training to each evaluation, with its accuracy (rank 0). */
  evals: { seconds: number; step: number; accuracy: number }[];
  /** Seconds to the first evaluation at or above the target; null if never reached. */
  secondsToTarget: number | null;
  /** The slowed worker's own mean step time (steps 6 to 10) and the sleep added after each later step (ms). */
  stepMs: { own: number; sleep: number };
}

export function run(group: ProcessGroup, args: PsBenchArgs): PsBenchResult | null {
  const raw = readConfigFile(join(packageRoot(), "examples", "mlp.json")) as Record<string, any>;
  const config = parseConfig(
    {
      ...raw,
      outDir: args.outDir,
      parallel: { mode: "ps", servers: args.servers, staleness: args.staleness },
      train: { ...raw.train, epochs: args.epochs, evalEvery: args.evalEvery, threads: 1 },
      checkpoint: { atEnd: false },
    },
    "bench/ps",
  );
  const stop = new Int32Array(args.stop);
  const result: PsBenchResult = { evals: [], secondsToTarget: null, stepMs: { own: 0, sleep: 0 } };
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let started = 0,
    last = 0,
    ownSum = 0;
  const slowAndWatch: Callback = {
    onTrainStart: () => {
      started = last = performance.now();
    },
    onStepEnd: (info) => {
      const now = performance.now();
      if (info.step > 5 && info.step <= 10) ownSum += now - last;
      if (info.step >= 10) Atomics.wait(sleeper, 0, 0, (2 * ownSum) / 5);
      last = performance.now();
    },
    onEvalEnd: (info) => {
      const seconds = (performance.now() - started) / 1000;
      result.evals.push({ seconds, step: info.step, accuracy: info.accuracy ?? 0 });
      if ((info.accuracy ?? 0) >= args.target && result.secondsToTarget === null) {
        result.secondsToTarget = seconds;
        Atomics.store(stop, 0, 1);
      }
    },
  };
  runTraining(config, {
    group,
    evaluate: true,
    stopRequested: () => (Atomics.load(stop, 0) ? "target accuracy reached" : null),
    callbacks: () => [slowAndWatch],
  });
  result.stepMs = { own: ownSum / 5, sleep: (2 * ownSum) / 5 };
  return group.rank === 0 ? result : null;
}
