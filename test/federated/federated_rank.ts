/**
 * The federated equivalence run: a small MLP, 4 IID clients of 8 synthetic samples, one local
 * SGD step each on all of its samples, every client every round (FedAvg); or, with `reference`,
 * one process taking one SGD step per round on all 32 samples (synchronous data parallel).
 * Run in one process, or as a rank of a group (the clients spread over its threads).
 */
import { federatedAveraging, partition } from "../../src/federated/index.js";
import { Rng } from "../../src/data/random.js";
import { mlp } from "../../src/models/mlp.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { SGD } from "../../src/optim/sgd.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";

export const FEATURES = 12,
  SAMPLES = 32,
  CLIENTS = 4,
  ROUNDS = 5;

/** The synthetic samples: features in [−1, 1], the class the largest of the first four. */
export function samples(): { x: Float32Array; y: Int32Array } {
  const rng = Rng.seeded(5);
  const x = Float32Array.from({ length: SAMPLES * FEATURES }, () => rng.below(2001) / 1000 - 1);
  const y = Int32Array.from({ length: SAMPLES }, (_, i) => {
    const row = Array.from(x.subarray(i * FEATURES, i * FEATURES + 4));
    return row.indexOf(Math.max(...row));
  });
  return { x, y };
}

export function run(group: ProcessGroup | null, args: { reference: boolean }): number[][] {
  manualSeed(3);
  const model = mlp({ inputs: FEATURES, hidden: [16], classes: 4 });
  const { x, y } = samples();
  const loss = (m: typeof model, xs: ReturnType<typeof tensor>, ys: ReturnType<typeof tensor>) => crossEntropy(m.forward(xs), ys);
  if (args.reference) {
    const optimizer = new SGD(model.parameters(), { lr: 0.1 });
    const xs = tensor(x, { shape: [SAMPLES, FEATURES] }),
      ys = tensor(y, { dtype: "int32" });
    for (let r = 0; r < ROUNDS; r++) {
      tidy(() => loss(model, xs, ys).backward());
      optimizer.step();
      optimizer.zeroGrad();
    }
  } else {
    federatedAveraging({
      model,
      optimizer: () => new SGD(model.parameters(), { lr: 0.1 }),
      loss,
      data: {
        sample: (i) => ({ x: x.subarray(i * FEATURES, (i + 1) * FEATURES), y: y[i]! }),
        sampleShape: [FEATURES],
        clients: partition(y, CLIENTS, { kind: "iid" }, 1),
      },
      options: {
        rounds: ROUNDS,
        local: { steps: 1 },
        batchSize: SAMPLES / CLIENTS,
        fraction: 1,
        algorithm: "fedavg",
        mu: 0,
        stragglers: 0,
        stragglerWork: "drop",
        dropped: 0,
        seed: 1,
      },
      ...(group ? { group } : {}),
    });
  }
  return model.parameters().map((p) => p.toArray());
}
