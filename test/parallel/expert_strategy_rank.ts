/**
 * One rank of the expert-parallel training tests: a tiny GPT whose MLPs are mixtures of 4
 * experts (top-2, capacity factor 1, dropping), built under deferInit and placed with its
 * experts sharded over the mesh's expert group, trained some AdamW steps (clipping at 1) by the
 * ExpertParallel strategy, each data rank on its rows of the global batch; next to the same GPT
 * in one process accumulating the ranks' batches in turn (routing, capacity and the balance
 * loss are per rank's batch, as in data parallelism). With "oneExpert" the routers start at
 * zero: every token's first choice is expert 0 (ties go to the lower index), whose capacity
 * overflows. Also returns the parameter bytes the tracker counted for the placed model.
 */
import { backward } from "../../src/autograd/backward.js";
import { GPT, type GPTConfig } from "../../src/models/gpt.js";
import { deferInit } from "../../src/nn/deferred.js";
import { mul } from "../../src/ops/binary.js";
import { fillInPlace } from "../../src/ops/inplace.js";
import { slice } from "../../src/ops/layout.js";
import { AdamW } from "../../src/optim/adamw.js";
import { clipGradNorm } from "../../src/optim/clip.js";
import { mixturesOf, placeExperts } from "../../src/parallel/expert/expert_parallel.js";
import { ExpertParallel } from "../../src/parallel/expert/strategy.js";
import { DeviceMesh, meshShape } from "../../src/parallel/mesh.js";
import type { ProcessGroup } from "../../src/parallel/process_group.js";
import { tensor } from "../../src/tensor/create.js";
import { memory } from "../../src/tensor/memory.js";
import { manualSeed } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { languageModel } from "../../src/train/task.js";
import { ruleBatches } from "./gpt_reference.js";

export type ExpertScenario = "balanced" | "oneExpert";

export interface ExpertArgs {
  expert: number;
  steps: number;
  scenario: ExpertScenario;
}

export interface ExpertResult {
  losses: [number[], number[]];
  norms: [number[], number[]];
  /** name → [this rank's, the reference's]: last gradients and final weights of what this rank holds. */
  checks: Record<string, [number[], number[]]>;
  /** Names of parameters this rank holds (materialised). */
  held: string[];
  /** [the tracker's parameter bytes of the placed model, the bytes of the shared layers plus this rank's experts]. */
  parameterBytes: [number, number];
  /** This rank's checkpoint pieces next to the reference's tensors. */
  checkpoint: Record<string, [number[], number[]]>;
}

const BATCH = 2,
  TIME = 8,
  VOCAB = 11;

export function run(group: ProcessGroup, args: ExpertArgs): ExpertResult {
  const config: GPTConfig = {
    vocabSize: VOCAB,
    context: TIME,
    layers: 2,
    heads: 2,
    width: 8,
    moe: { experts: 4, topK: 2, capacityFactor: 1, drop: true, hidden: 12, auxLossWeight: 0.01 },
  };
  const ranks = group.size;
  const data = ruleBatches(args.steps, BATCH * ranks, TIME, VOCAB);
  const task = languageModel();
  const optimizerOf = (m: { parameters(): Tensor[] }) => new AdamW(m.parameters(), { lr: 3e-3, weightDecay: 0.1 });
  const zeroRouters = (m: GPT): void => {
    if (args.scenario === "oneExpert") for (const moe of mixturesOf(m)) fillInPlace(moe.router.weight, 0);
  };
  const rowsOf = (t: Tensor, r: number): Tensor => slice(t, 0, r * BATCH, (r + 1) * BATCH);

  const mesh = DeviceMesh.build(group, meshShape(ranks, { expert: args.expert }));
  const before = memory.report().current.parameter;
  manualSeed(3);
  const model = deferInit(() => new GPT(config));
  placeExperts(model, mesh.groups.expert);
  const placedBytes = memory.report().current.parameter - before;
  zeroRouters(model);
  const strategy = new ExpertParallel(model, { data: mesh.groups.data, expert: mesh.groups.expert });
  const optimizer = optimizerOf(model);

  manualSeed(3);
  const full = new GPT(config);
  zeroRouters(full);
  const fullOptimizer = optimizerOf(full);
  const result: ExpertResult = { losses: [[], []], norms: [[], []], checks: {}, held: [], parameterBytes: [placedBytes, 0], checkpoint: {} };
  for (const [x, y] of data) {
    // The reference: every rank's batch in turn, each loss weighted 1/ranks.
    full.zeroGrad();
    let refLoss = 0;
    for (let r = 0; r < ranks; r++) {
      tidy(() => {
        const loss = task.loss(full, { x: rowsOf(x, r), y: rowsOf(y, r) });
        refLoss += loss.item() / ranks;
        backward(mul(loss, 1 / ranks));
      });
    }
    result.losses[1].push(refLoss);
    result.norms[1].push(clipGradNorm(full.parameters(), 1));
    fullOptimizer.step();

    model.zeroGrad();
    tidy(() => {
      const loss = task.loss(model, { x: rowsOf(x, mesh.coords.data), y: rowsOf(y, mesh.coords.data) });
      const global = tensor([loss.item()]);
      mesh.groups.data.allReduce(global, "mean");
      result.losses[0].push(global.item());
      strategy.backward(loss);
    });
    result.norms[0].push(strategy.clipGradNorm(1));
    strategy.step(optimizer);
  }

  const reference = new Map(full.namedParameters());
  for (const [name, p] of model.namedParameters()) {
    if (p.isMeta) continue;
    result.held.push(name);
    result.parameterBytes[1] += reference.get(name)!.size * 4;
    result.checks[`${name}.grad`] = [p.grad!.toArray(), reference.get(name)!.grad!.toArray()];
    result.checks[name] = [p.toArray(), reference.get(name)!.toArray()];
  }
  const state = strategy.stateDict(optimizer);
  for (const [name, piece] of Object.entries(state.model)) result.checkpoint[name] = [piece.data.toArray(), reference.get(name)!.toArray()];
  strategy.dispose();
  return result;
}
