import { z } from "zod";

import { int, positive } from "./config_fields.js";

/** The config's `federated` section: clients, rounds and partitions of `turbine federated`. */

/** The `federated` section (optional): clients, rounds, local work, selection and partition. @example federatedSection.parse({ clients: 100, localSteps: 10 }) */
export const federatedSection = z
  .strictObject({
    clients: int(1).default(10).describe("clients the training set is split over (each one model, trained on its own samples only)"),
    rounds: int(1).default(50).describe("communication rounds: the server sends the global model, the selected clients train, it averages what they return"),
    localSteps: int(1).optional().describe("local SGD steps (of data.batchSize samples) per selected client and round; give this or localEpochs"),
    localEpochs: int(1).optional().describe("local passes over a client's own samples per round (default 1 when localSteps is not given)"),
    fraction: z.number().gt(0).max(1).default(0.1).describe("share of the clients selected each round (at least one)"),
    algorithm: z
      .enum(["fedavg", "fedprox"])
      .default("fedavg")
      .describe(
        "fedavg (McMahan et al.: the returned models averaged by sample count) or fedprox (the same, local training pulled to the global model by mu/2 · ‖w − w_global‖²)",
      ),
    mu: z.number().min(0).default(0.01).describe("fedprox: the proximal term's weight"),
    partition: z
      .enum(["iid", "dirichlet", "shards"])
      .default("iid")
      .describe(
        "how the training set is split: iid (shuffled, equal), dirichlet (per class, proportions from Dirichlet(alpha)) or shards (sorted by label, cut into clients × shardsPerClient shards, shardsPerClient each, as in the FedAvg paper)",
      ),
    alpha: positive().default(0.5).describe("partition dirichlet: concentration (small: each client sees few classes)"),
    shardsPerClient: int(1).default(2).describe("partition shards: shards per client (2: most clients see two classes)"),
    stragglers: z.number().min(0).max(1).default(0).describe("share of each round's selected clients that run only a random 1..all of their local steps"),
    stragglerWork: z
      .enum(["keep", "drop"])
      .optional()
      .describe(
        "what the server does with a straggler's partial work: keep it or drop the client (default: keep under fedprox, drop under fedavg, as in the FedProx paper)",
      ),
    dropped: z.number().min(0).max(1).default(0).describe("share of each round's selected clients that drop out and send nothing"),
    threads: int(1).max(256).default(1).describe("worker threads the round's clients are spread over (each holds one model and the data)"),
  })
  .refine((f) => f.localSteps === undefined || f.localEpochs === undefined, { message: "give localSteps or localEpochs, not both", path: ["localSteps"] })
  .optional()
  .describe(
    "federated training (turbine federated): clients, rounds, local work, selection, partition, stragglers; needs the fashion-mnist data and an mlp or cnn",
  );
