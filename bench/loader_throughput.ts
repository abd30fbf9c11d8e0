/**
 * Loader throughput against what training consumes: the Fashion-MNIST loader with random crop
 * and flip at batch 128 on `--workers` worker threads (default 1), alone (no training: each
 * batch is disposed as it arrives), against the cnn workload training on the same loader
 * configuration, alternating for `--rounds` rounds. Reports loader batches/s, training
 * batches/s (steps/s) and their ratio, medians over rounds; the loader should outrun
 * training by 10× or more so that data never limits a step.
 *
 *   npx tsc -p . && node dist/bench/loader_throughput.js [--threads N] [--workers N] [--rounds N] [--batches N] [--steps N] [--json]
 */
import { DataLoader } from "../src/data/dataloader.js";
import { FashionMNIST } from "../src/data/fashion_mnist.js";
import { augmentedCnn, CNN_AUGMENT, summarise, timeTraining } from "./data_common.js";
import { benchOptions, median, now, report } from "./harness.js";

const { ints, json } = benchOptions("loader_throughput", { workers: 1, rounds: 5, batches: 300, steps: 40 });
const { workers, rounds, batches, steps } = ints as { workers: number; rounds: number; batches: number; steps: number };
const WARMUP_BATCHES = 20,
  WARMUP_STEPS = 10;

/** Batches per second of the loader alone over `batches` batches after a warm-up. */
function loaderRate(round: number): number {
  const train = FashionMNIST.load({ split: "train" });
  const loader = new DataLoader(train, { batchSize: 128, shuffle: true, seed: round, transform: CNN_AUGMENT, numWorkers: workers });
  let seen = 0,
    start = 0;
  try {
    for (;;) {
      for (const { x, y } of loader) {
        x.dispose();
        y.dispose();
        if (++seen === WARMUP_BATCHES) start = now();
        if (seen === WARMUP_BATCHES + batches) return batches / (now() - start);
      }
    }
  } finally {
    loader.close();
  }
}

const loaderRates: number[] = [],
  trainRates: number[] = [];
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? ["loader", "train"] : ["train", "loader"];
  for (const side of order) {
    if (side === "loader") loaderRates.push(loaderRate(round));
    else trainRates.push(1000 / summarise(timeTraining(augmentedCnn(WARMUP_STEPS + steps, workers), WARMUP_STEPS)).stepMs);
    process.stderr.write(`round ${round + 1}/${rounds} ${side}: ${(side === "loader" ? loaderRates : trainRates).at(-1)!.toFixed(1)} batches/s\n`);
  }
}
const loader = median(loaderRates),
  train = median(trainRates);
report(
  [{ workers, loader, train, ratio: loader / train, ratioLow: Math.min(...loaderRates.map((l, i) => l / trainRates[i]!)) }],
  [
    ["workers", "workers"],
    ["loader", "loader batches/s"],
    ["train", "cnn training batches/s"],
    ["ratio", "loader / training ×"],
    ["ratioLow", "lowest round ×"],
  ],
  json,
);
