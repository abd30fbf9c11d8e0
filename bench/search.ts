/**
 * Search (issue 19): ASHA against random search over the same 16 cnn trials on Fashion-MNIST.
 * Both draw the same trials (same seed: trial i has the same values), random search trains each
 * to the budget, ASHA stops most of them at its rungs (η = 2 by default: halving rungs from
 * budget/16; with η = 3, budget/9 and budget/3, the early rungs dropped the trial that is best at
 * the full budget, 1.19 points below random search's best at 450 steps). Reports each search's
 * best test accuracy and total training steps; the target is ASHA within 0.3 points of random
 * search's best with at most 40% of its steps. Counts accuracy and steps, not time, so load on the
 * machine changes only how long it takes (about 5 minutes of CPU at the defaults; 1 minute with
 * --steps 90).
 *
 *   npx tsc -p . && node dist/bench/search.js [--trials 16] [--steps 450] [--parallel 2] [--seed 0] [--eta 2] [--json]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { parseSearchSpace } from "../src/search/space.js";
import { runSearch } from "../src/search/search.js";
import type { SchedulerKind } from "../src/search/scheduler.js";
import { defaultMinSteps } from "../src/search/successive_halving.js";
import { benchOptions, report } from "./harness.js";

const { json, ints } = benchOptions("search", { trials: 16, steps: 450, parallel: 2, seed: 0, eta: 2 });
const out = mkdtempSync(join(tmpdir(), "turbine-bench-search-"));

// The cnn recipe of `turbine train` with its learning rate, widths and weight decay searched.
const base = {
  model: { kind: "cnn" },
  data: { kind: "fashion-mnist", batchSize: 128 },
  optimizer: { kind: "adamw", lr: 2e-3 },
  schedule: { warmup: 50, decay: "cosine", floor: 0.1 },
  train: { clipGradNorm: 1.0, logEvery: 1000 },
};
const space = parseSearchSpace(
  {
    "optimizer.lr": { loguniform: [2e-4, 2e-2] },
    "optimizer.weightDecay": { uniform: [0, 0.1] },
    "model.channels": {
      choice: [
        [8, 16],
        [16, 32],
        [32, 64],
      ],
    },
    "model.hidden": { choice: [64, 128] },
  },
  "bench space",
);

const search = async (scheduler: SchedulerKind) => {
  const start = performance.now();
  const outcome = await runSearch({
    base,
    configSource: "bench cnn",
    space,
    scheduler,
    trials: ints.trials,
    parallel: ints.parallel,
    outDir: join(out, scheduler),
    maxSteps: ints.steps,
    metric: "accuracy",
    minSteps: defaultMinSteps(ints.steps, ints.eta, ints.trials),
    eta: ints.eta,
    perturb: ints.steps,
    seed: ints.seed,
    log: () => {},
  });
  return { outcome, seconds: (performance.now() - start) / 1000 };
};

try {
  const random = await search("random");
  const asha = await search("asha");
  const bestOf = (o: typeof random.outcome) => o.best?.accuracy ?? Number.NaN;
  const row = (name: string, r: typeof random) => ({
    scheduler: name,
    best_trial: r.outcome.best?.trial ?? "-",
    accuracy: (100 * bestOf(r.outcome)).toFixed(2),
    steps: r.outcome.totalSteps,
    share: (r.outcome.totalSteps / random.outcome.totalSteps).toFixed(3),
    seconds: r.seconds.toFixed(0),
  });
  report(
    [row("random", random), row("asha", asha)],
    [
      ["scheduler", "scheduler"],
      ["best_trial", "best trial"],
      ["accuracy", "best test accuracy %"],
      ["steps", "training steps"],
      ["share", "steps / random's"],
      ["seconds", "wall s"],
    ],
    json,
  );
  const gap = 100 * (bestOf(random.outcome) - bestOf(asha.outcome));
  const share = asha.outcome.totalSteps / random.outcome.totalSteps;
  const met = gap <= 0.3 && share <= 0.4;
  if (!json)
    console.log(
      `ASHA − random best: ${(-gap).toFixed(2)} points with ${(100 * share).toFixed(1)}% of the steps: target (≤ 0.3 points lower, ≤ 40%) ${met ? "met" : "NOT met"}`,
    );
} finally {
  rmSync(out, { recursive: true, force: true });
}
