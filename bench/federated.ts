/**
 * Federated training on a shards-per-client non-IID split of Fashion-MNIST (10 clients, 2 label-
 * sorted shards each, as in the FedAvg paper), the mlp (784-200-200-10, SGD): rounds to 80% test
 * accuracy for FedAvg with every client, then with 30% stragglers each round (they run a random
 * 1..all of their local steps): FedAvg dropping them against FedProx (μ = 0.01) keeping their
 * partial work; over `--seeds` seeds (each seed its own split, selection and initial weights).
 * Every round's accuracy lands in each run's metrics.jsonl; this prints rounds to 80% per seed
 * and the median. `--threads` client threads per run.
 *
 *   node dist/bench/federated.js --seeds 3 --rounds 100 --local-steps 50 --threads 2
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { type FederatedSummary, runFederated } from "../src/federated/run.js";
import { startThreads } from "../src/parallel/threads/spawn.js";
import type { Config, ConfigInput } from "../src/train/config.js";
import { parseConfig } from "../src/train/config_file.js";
import { newRunFolder, writeRunConfig } from "../src/train/run_folder.js";
import { benchOptions, median, report } from "./harness.js";

const { ints, json } = benchOptions("federated", { seeds: 3, rounds: 100, "local-steps": 50, threads: 2, clients: 10 });
const TARGET = "0.8";

const arms = [
  { name: "fedavg, all clients", federated: { algorithm: "fedavg", stragglers: 0 } },
  { name: "fedavg, 30% stragglers dropped", federated: { algorithm: "fedavg", stragglers: 0.3, stragglerWork: "drop" } },
  { name: "fedprox mu 0.01, 30% stragglers kept", federated: { algorithm: "fedprox", mu: 0.01, stragglers: 0.3, stragglerWork: "keep" } },
] as const;

async function runArm(arm: (typeof arms)[number], seed: number, outDir: string): Promise<FederatedSummary> {
  const input: ConfigInput = {
    name: `${arm.federated.algorithm}-${arm.federated.stragglers}-seed${seed}`,
    outDir,
    model: { kind: "mlp", hidden: [200, 200] },
    data: { kind: "fashion-mnist", batchSize: 50 },
    optimizer: { kind: "sgd", lr: 0.05 },
    train: { seed, threads: 1 },
    federated: {
      clients: ints.clients,
      rounds: ints.rounds,
      localSteps: ints["local-steps"],
      fraction: 1,
      partition: "shards",
      shardsPerClient: 2,
      threads: ints.threads,
      ...arm.federated,
    },
  };
  const config: Config = parseConfig(input, "bench/federated");
  const runDir = newRunFolder(join(outDir, config.name!));
  writeRunConfig(runDir, config);
  if (ints.threads === 1) return runFederated(config, { runDir });
  const job = startThreads({
    size: ints.threads,
    module: new URL("../src/federated/federated_rank.js", import.meta.url),
    args: { config, runDir },
    onLine: () => {},
  });
  const outcomes = await job.done;
  for (const o of outcomes) if (!o.ok) throw o.error;
  return (outcomes[0] as { result: FederatedSummary }).result;
}

const outDir = mkdtempSync(join(tmpdir(), "turbine-bench-federated-"));
const rows: Record<string, unknown>[] = [];
try {
  for (const arm of arms) {
    const rounds: number[] = [];
    const seconds: number[] = [];
    for (let seed = 0; seed < ints.seeds; seed++) {
      const summary = await runArm(arm, seed, outDir);
      rounds.push(summary.first_round_at[TARGET] ?? Infinity);
      seconds.push(summary.train_s);
      process.stderr.write(
        `federated: ${arm.name}, seed ${seed}: ${summary.first_round_at[TARGET] ?? "never"} rounds to 80% (final ${(summary.final.accuracy * 100).toFixed(2)}%, ${summary.train_s.toFixed(0)} s)\n`,
      );
    }
    rows.push({
      arm: arm.name,
      median: median(rounds),
      rounds: rounds.map((r) => (Number.isFinite(r) ? r : "never")).join(" "),
      seconds: median(seconds).toFixed(0),
    });
  }
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
report(
  rows,
  [
    ["arm", "arm"],
    ["median", "median rounds to 80%"],
    ["rounds", "each seed"],
    ["seconds", "median s per run"],
  ],
  json,
);
