import { Rng } from "../data/random.js";
import type { Module } from "../nn/module.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { ProcessGroup } from "../parallel/process_group.js";
import { fromTypedArray, tensor } from "../tensor/create.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { addProximalGradient } from "./proximal.js";

/** The rules of a federated run (the `federated` config block, resolved). */
export interface FederatedOptions {
  rounds: number;
  /** Local training per selected client and round: a number of steps, or of passes over its data. */
  local: { steps: number } | { epochs: number };
  /** Samples per local step (a client with fewer uses all of its own). */
  batchSize: number;
  /** Share of the clients selected each round (at least one). */
  fraction: number;
  algorithm: "fedavg" | "fedprox";
  /** FedProx's proximal weight μ (ignored by fedavg). */
  mu: number;
  /** Share of each round's selected clients that are stragglers: they run only a random 1..all of their local steps. */
  stragglers: number;
  /** What the server does with a straggler's partial work: keep it (FedProx's way) or drop the client (FedAvg's). */
  stragglerWork: "keep" | "drop";
  /** Share of each round's selected clients that drop out (send nothing). */
  dropped: number;
  seed: number;
}

/** The clients' training data: any sample's features (row-major) and label, and who holds which. */
export interface ClientData {
  sample(index: number): { x: Float32Array; y: number };
  /** The shape of one sample (e.g. [1, 28, 28]). */
  sampleShape: readonly number[];
  /** Each client's sample indices (partition()). */
  clients: readonly (readonly number[])[];
}

/** What happened in one round. */
export interface RoundRecord {
  round: number;
  /** Selected clients, and of them the stragglers and those that dropped out (or were dropped). */
  selected: number[];
  stragglers: number[];
  dropped: number[];
  /** Samples of the clients averaged into the global model (0: it stayed as it was). */
  samples: number;
}

/** What a federated run needs beyond its options: the model, a fresh local optimizer, the loss. */
export interface FederatedSetup {
  model: Module;
  /** A fresh optimizer over the model's parameters, for a client's local training in a round. */
  optimizer: () => Optimizer<any>;
  loss: (model: Module, x: Tensor, y: Tensor) => Tensor;
  data: ClientData;
  options: FederatedOptions;
  /**
   * Clients trained in parallel: client c of a round runs on rank (its place among the round's
   * selected) mod size, and the weighted sums meet in one all-reduce; every rank ends each round
   * with the same global model. Without a group every client runs here, one after another.
   */
  group?: ProcessGroup;
  /** Called after each round with the global model in `model` (evaluate it here). */
  onRound?: (record: RoundRecord) => void;
}

/**
 * Federated averaging (McMahan et al., 2017) and FedProx (Li et al., 2020), simulated: each
 * round a `fraction` of the clients is drawn; each selected client starts from the global
 * model, trains locally on its own samples with a fresh optimizer (FedProx adds μ(w − w_global)
 * to every gradient), and the server averages the returned models weighted by the clients'
 * sample counts. Stragglers (a share of the selected) run only a random part of their local
 * steps, and are kept or dropped; dropped-out clients send nothing. Every draw comes from
 * (seed, round), so a run is repeatable and every rank of a group agrees on it.
 *
 * @example
 * federatedAveraging({ model, optimizer: () => new SGD(model.parameters(), { lr: 0.05 }), loss, data, options, onRound: (r) => console.log(r.round) });
 */
export function federatedAveraging(setup: FederatedSetup): RoundRecord[] {
  const { model, data, options, group } = setup;
  const params = model.parameters();
  const sizes = params.map((p) => p.size);
  const total = sizes.reduce((a, b) => a + b, 0);
  // The weighted sum of the returned models, then the sample count, for one all-reduce.
  const sum = fromTypedArray(new Float32Array(total + 1), [total + 1], "float32", "other");
  const global = params.map((p) => Float32Array.from(p.toHost() as Float32Array));
  const records: RoundRecord[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const plan = planRound(data.clients.length, round, options);
    const acc = sum.toHost() as Float32Array;
    acc.fill(0);
    plan.selected.forEach((client, place) => {
      if (group && place % group.size !== group.rank) return;
      if (plan.dropped.includes(client)) return;
      loadInto(params, global);
      trainClient(setup, client, round, plan.stragglers.includes(client), global);
      const n = data.clients[client]!.length;
      let at = 0;
      for (const p of params) {
        const w = p.toHost() as Float32Array;
        for (let j = 0; j < w.length; j++) acc[at + j]! += n * w[j]!;
        at += p.size;
      }
      acc[total]! += n;
    });
    group?.allReduce(sum, "sum");
    const samples = acc[total]!;
    if (samples > 0) {
      let at = 0;
      for (const g of global) {
        for (let j = 0; j < g.length; j++) g[j] = acc[at + j]! / samples;
        at += g.length;
      }
    }
    loadInto(params, global);
    const record: RoundRecord = { round, selected: plan.selected, stragglers: plan.stragglers, dropped: plan.dropped, samples };
    records.push(record);
    setup.onRound?.(record);
  }
  return records;
}

/** Who takes part in a round, who straggles and who is left out; the same on every rank. */
function planRound(clients: number, round: number, options: FederatedOptions): { selected: number[]; stragglers: number[]; dropped: number[] } {
  const rng = Rng.seeded(options.seed, 1000 + round);
  const m = Math.max(1, Math.round(options.fraction * clients));
  const selected = Array.from(rng.permutation(clients).subarray(0, m)).sort((a, b) => a - b);
  const roles = rng.permutation(m);
  const straggling = Math.round(options.stragglers * m),
    dropping = Math.min(m - straggling, Math.round(options.dropped * m));
  const stragglers = Array.from(roles.subarray(0, straggling), (i) => selected[i]!).sort((a, b) => a - b);
  const dropouts = Array.from(roles.subarray(straggling, straggling + dropping), (i) => selected[i]!);
  const dropped = [...dropouts, ...(options.stragglerWork === "drop" ? stragglers : [])].sort((a, b) => a - b);
  return { selected, stragglers, dropped };
}

/** A client's local steps this round: its full count, or for a straggler a random 1..full. */
function localSteps(setup: FederatedSetup, client: number, round: number, straggler: boolean): number {
  const { options, data } = setup;
  const n = data.clients[client]!.length;
  const full = "steps" in options.local ? options.local.steps : options.local.epochs * Math.ceil(n / Math.min(options.batchSize, n));
  return straggler ? 1 + Rng.seeded(options.seed, 5000 + round * 100_003 + client).below(full) : full;
}

/** One client's local training from the global model (already in `model`): its steps on its own samples, with a fresh optimizer. */
function trainClient(setup: FederatedSetup, client: number, round: number, straggler: boolean, global: readonly Float32Array[]): void {
  const { model, data, options } = setup;
  const params = model.parameters();
  const indices = data.clients[client]!;
  const n = indices.length,
    batch = Math.min(options.batchSize, n);
  const steps = localSteps(setup, client, round, straggler);
  const order = Rng.seeded(options.seed, 9000 + round * 100_003 + client).permutation(n);
  const optimizer = setup.optimizer();
  const features = data.sampleShape.reduce((a, b) => a * b, 1);
  for (let s = 0; s < steps; s++) {
    const rows = Array.from({ length: batch }, (_, k) => indices[order[(s * batch + k) % n]!]!);
    const xs = new Float32Array(batch * features);
    const labels = new Int32Array(batch);
    rows.forEach((r, k) => {
      const { x, y } = data.sample(r);
      xs.set(x, k * features);
      labels[k] = y;
    });
    const x = tensor(xs, { shape: [batch, ...data.sampleShape] });
    const y = tensor(labels, { dtype: "int32" });
    tidy(() => setup.loss(model, x, y).backward());
    x.dispose();
    y.dispose();
    if (options.algorithm === "fedprox") addProximalGradient(params, global, options.mu);
    optimizer.step();
    optimizer.zeroGrad();
  }
}

function loadInto(params: readonly Tensor[], values: readonly Float32Array[]): void {
  params.forEach((p, i) => {
    (p.toHost() as Float32Array).set(values[i]!);
    p.version++;
  });
}
