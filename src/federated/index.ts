/**
 * Federated training (`turbine federated`, a config's `federated` block): partitions of a
 * training set over clients (IID, Dirichlet, FedAvg's shards), FedAvg and FedProx rounds with
 * client selection, stragglers and drop-outs, clients spread over worker threads.
 *
 * @example
 * import { federated } from "turbine";
 * const clients = federated.partition(labels, 10, { kind: "shards", shardsPerClient: 2 }, 0);
 */
export { partition, type Partition } from "./partition.js";
export { addProximalGradient } from "./proximal.js";
export { federatedAveraging, type FederatedOptions, type FederatedSetup, type ClientData, type RoundRecord } from "./fedavg.js";
export { runFederated, federatedOptions, type FederatedSummary, type RoundMetrics } from "./run.js";
