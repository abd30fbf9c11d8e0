import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

import { noGrad } from "../autograd/grad_mode.js";
import { FashionMNIST } from "../data/fashion_mnist.js";
import type { Module } from "../nn/module.js";
import type { ProcessGroup } from "../parallel/process_group.js";
import { tidy } from "../tensor/scope.js";
import { buildOptimizer, buildRun } from "../train/build.js";
import type { Config } from "../train/config.js";
import { asConfigError, ConfigError } from "../train/config_file.js";
import type { Batch, Task } from "../train/task.js";
import { type FederatedOptions, federatedAveraging } from "./fedavg.js";
import { partition } from "./partition.js";

/** One round's line in metrics.jsonl (and the summary's last). */
export interface RoundMetrics {
  type: "round";
  round: number;
  time: string;
  /** Seconds since the first round started. */
  seconds: number;
  selected: number;
  stragglers: number;
  dropped: number;
  samples: number;
  loss: number;
  accuracy: number;
}

/** The outcome of `turbine federated`, also its --json line. */
export interface FederatedSummary {
  rounds: number;
  clients: number;
  algorithm: "fedavg" | "fedprox";
  /** The first round whose test accuracy reached each of 0.7, 0.8, 0.85 (null: never). */
  first_round_at: Record<string, number | null>;
  final: { loss: number; accuracy: number };
  train_s: number;
  run_dir: string | null;
}

/**
 * The federated options of a config (its `federated` block), checked: a ConfigError naming the
 * field for a config without one, or one turbine cannot run federated.
 * @example const options = federatedOptions(config);
 */
export function federatedOptions(config: Config): FederatedOptions {
  const f = config.federated;
  if (!f)
    throw new ConfigError(
      "config: turbine federated needs a federated block (clients, rounds, localSteps or localEpochs, ...); see turbine train --help-config",
    );
  if (config.data.kind !== "fashion-mnist" || config.model.kind === "gpt")
    throw new ConfigError(
      `config: federated training runs the mlp or cnn on fashion-mnist; got model.kind ${JSON.stringify(config.model.kind)} on data.kind ${JSON.stringify(config.data.kind)}`,
    );
  if (config.train.precision !== "float32") throw new ConfigError(`config: federated training runs in float32; got train.precision ${config.train.precision}`);
  return {
    rounds: f.rounds,
    local: f.localSteps !== undefined ? { steps: f.localSteps } : { epochs: f.localEpochs ?? 1 },
    batchSize: config.data.batchSize,
    fraction: f.fraction,
    algorithm: f.algorithm,
    mu: f.mu,
    stragglers: f.stragglers,
    stragglerWork: f.stragglerWork ?? (f.algorithm === "fedprox" ? "keep" : "drop"),
    dropped: f.dropped,
    seed: config.train.seed,
  };
}

/**
 * Runs a config's federated training on this rank (every rank of `group` calls it; rank 0,
 * given `runDir`, appends one `round` line per round to its metrics.jsonl): the Fashion-MNIST
 * training set partitioned over the clients as the config says, the config's model and
 * optimizer (a fresh one per client and round, at the config's learning rate: no schedule),
 * the test set evaluated after every round.
 * @example const summary = runFederated(config, { runDir: "runs/fed/version_0" });
 */
export function runFederated(config: Config, options: { group?: ProcessGroup; runDir?: string | null; log?: (line: string) => void } = {}): FederatedSummary {
  const fed = federatedOptions(config);
  const parts = buildRun(config);
  parts.train.close();
  const train = FashionMNIST.load({ split: "train", ...(config.data.kind === "fashion-mnist" && config.data.root ? { root: config.data.root } : {}) });
  // More clients (or shards) than samples: partition's RangeError, as a config error.
  const clients = asConfigError(() => partition(train.labels, config.federated!.clients, partitionOf(config), config.train.seed));
  const lead = (options.group?.rank ?? 0) === 0;
  const started = performance.now();
  const reached: Record<string, number | null> = { "0.7": null, "0.8": null, "0.85": null };
  let final = { loss: Number.NaN, accuracy: 0 };
  federatedAveraging({
    model: parts.model,
    optimizer: () => buildOptimizer(config, parts.model),
    loss: (model, x, y) => parts.task.loss(model, { x, y }),
    data: {
      sample: (i) => {
        const s = train.get(i);
        return { x: s.image, y: s.label };
      },
      sampleShape: train.sampleShape,
      clients,
    },
    options: fed,
    ...(options.group ? { group: options.group } : {}),
    onRound: (record) => {
      if (!lead) return;
      final = evaluate(parts.model, parts.task, parts.eval);
      for (const key of Object.keys(reached)) if (reached[key] === null && final.accuracy >= Number(key)) reached[key] = record.round;
      const line: RoundMetrics = {
        type: "round",
        round: record.round,
        time: new Date().toISOString(),
        seconds: (performance.now() - started) / 1000,
        selected: record.selected.length,
        stragglers: record.stragglers.length,
        dropped: record.dropped.length,
        samples: record.samples,
        ...final,
      };
      if (options.runDir) appendFileSync(join(options.runDir, "metrics.jsonl"), `${JSON.stringify(line)}\n`);
      options.log?.(
        `round ${record.round}/${fed.rounds}: accuracy ${(final.accuracy * 100).toFixed(2)}%, loss ${final.loss.toFixed(4)} (${line.selected} clients, ${line.stragglers} stragglers, ${line.dropped} left out)`,
      );
    },
  });
  return {
    rounds: fed.rounds,
    clients: clients.length,
    algorithm: fed.algorithm,
    first_round_at: reached,
    final,
    train_s: (performance.now() - started) / 1000,
    run_dir: options.runDir ?? null,
  };
}

function partitionOf(config: Config) {
  const f = config.federated!;
  if (f.partition === "dirichlet") return { kind: "dirichlet" as const, alpha: f.alpha };
  if (f.partition === "shards") return { kind: "shards" as const, shardsPerClient: f.shardsPerClient };
  return { kind: "iid" as const };
}

/** The global model's test loss and accuracy. */
function evaluate(model: Module, task: Task, loader: Iterable<Batch>): { loss: number; accuracy: number } {
  model.eval();
  let loss = 0,
    count = 0,
    correct = 0;
  try {
    noGrad(() => {
      for (const batch of loader) {
        const counts = tidy(() => task.evaluate(model, batch));
        batch.x.dispose();
        batch.y.dispose();
        loss += counts.loss * counts.count;
        count += counts.count;
        correct += counts.correct ?? 0;
      }
    });
  } finally {
    model.train();
  }
  return { loss: loss / count, accuracy: correct / count };
}
