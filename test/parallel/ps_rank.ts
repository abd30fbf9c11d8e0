/**
 * One rank of the parameter-server tests: the last `servers` ranks serve, the others train a
 * small MLP (AdamW) on their shard of fixed synthetic batches through the worker Strategy. With
 * one rank and no servers it trains alone on the global batch (the reference). Options slow one
 * worker (a sleep per step), kill one worker or one server at a step, and record every pull.
 */
import { DistributedSampler } from "../../src/data/distributed_sampler.js";
import { Rng } from "../../src/data/random.js";
import { SequentialSampler } from "../../src/data/sampler.js";
import { mlp } from "../../src/models/mlp.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { AdamW } from "../../src/optim/adamw.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { ParameterServer, ParameterServerWorker, psLayout, type PullRecord, type ServeResult } from "../../src/parallel/ps/index.js";
import { SingleProcess, type Strategy } from "../../src/parallel/strategy.js";
import { tensor } from "../../src/tensor/create.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";

export interface PsArgs {
  steps: number;
  globalBatch: number;
  servers: number;
  staleness: number;
  /** A worker rank that sleeps this many ms per step. */
  slow?: { rank: number; ms: number };
  /** A worker rank that fails (throws) when it reaches this step. */
  die?: { rank: number; step: number };
}

export interface PsResult {
  role: "worker" | "server" | "single";
  losses: number[];
  params: number[][];
  pulls: PullRecord[];
  serve?: ServeResult;
}

const FEATURES = 12,
  CLASSES = 4;

export function run(group: ProcessGroup, args: PsArgs): PsResult {
  manualSeed(3);
  const model = mlp({ inputs: FEATURES, hidden: [24, 16], classes: CLASSES });
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.01 });
  const single = group.size === 1;
  const layout = single
    ? null
    : psLayout(
        group.size,
        args.servers,
        model.parameters().map((p) => p.size),
      );
  if (layout?.servers.includes(group.rank)) {
    const serve = new ParameterServer(group.peerChannel!(), model, optimizer, layout, { staleness: args.staleness, timeoutMs: group.timeoutMs }).serve();
    return { role: "server", losses: [], params: [], pulls: [], serve };
  }
  const pulls: PullRecord[] = [];
  if (group.rank !== 0) for (const p of model.parameters()) (p.toHost() as Float32Array).fill(0.5); // the servers' weights must win
  const strategy: Strategy = layout
    ? new ParameterServerWorker(model, group.peerChannel!(), layout, { onPull: (r) => pulls.push(r) })
    : new SingleProcess(model);
  const workers = layout?.workers.length ?? 1;
  const rng = Rng.seeded(11);
  const total = args.steps * args.globalBatch;
  const xs = Float32Array.from({ length: total * FEATURES }, () => rng.below(2001) / 1000 - 1);
  const ys = Int32Array.from({ length: total }, (_, i) => {
    const row = xs.subarray(i * FEATURES, i * FEATURES + CLASSES);
    return row.indexOf(Math.max(...row));
  });
  const order = new DistributedSampler(new SequentialSampler(total), { rank: single ? 0 : group.rank, worldSize: workers }).epochIndices(0);
  const perRank = args.globalBatch / workers;
  const losses: number[] = [];
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let step = 0; step < args.steps; step++) {
    if (args.die?.rank === group.rank && args.die.step === step) throw new Error(`worker rank ${group.rank} dies at step ${step} (test)`);
    if (args.slow?.rank === group.rank) Atomics.wait(sleeper, 0, 0, args.slow.ms);
    const idx = order.subarray(step * perRank, (step + 1) * perRank);
    const x = tensor(
      Float32Array.from({ length: idx.length * FEATURES }, (_, k) => xs[idx[Math.floor(k / FEATURES)]! * FEATURES + (k % FEATURES)]!),
      { shape: [idx.length, FEATURES] },
    );
    const y = tensor(
      Int32Array.from(idx, (i) => ys[i]!),
      { dtype: "int32" },
    );
    tidy(() => {
      const loss = crossEntropy(model.forward(x), y);
      losses.push(loss.item());
      strategy.backward(loss);
    });
    x.dispose();
    y.dispose();
    strategy.step(optimizer);
    optimizer.zeroGrad();
  }
  strategy.dispose();
  return { role: layout ? "worker" : "single", losses, params: model.parameters().map((p) => p.toArray()), pulls };
}
