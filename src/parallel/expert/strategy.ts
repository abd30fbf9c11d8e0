import type { Module } from "../../nn/module.js";
import { scaleInPlace } from "../../ops/inplace.js";
import { clipGradNorm, gradNorm } from "../../optim/clip.js";
import type { GradScaler } from "../../optim/grad_scaler.js";
import type { Optimizer } from "../../optim/optimizer.js";
import type { Tensor } from "../../tensor/tensor.js";
import { anyRank } from "../any_rank.js";
import type { ProcessGroup } from "../process_group.js";
import { shardedNorm } from "../sharded_norm.js";
import type { StateReader, StrategyState } from "../state.js";
import { optimizerStep, type Strategy } from "../strategy.js";
import { gatheredState, loadPartState } from "../tensor/split_state.js";
import { expertParameters } from "./expert_parallel.js";

export interface ExpertParallelOptions {
  /** The data-parallel group: every rank of it trains on its own batches. */
  data: ProcessGroup;
  /** This rank's expert group: `expert` consecutive data ranks that share the experts out (see placeExperts). */
  expert: ProcessGroup;
}

/**
 * Data parallelism with the mixtures' experts sharded over expert groups (a model placed by
 * `placeExperts`): each rank holds the shared layers whole and only its experts. After backward
 * the shared layers' gradients are averaged over the data group (as DDP does); an expert's
 * gradient already holds its expert group's tokens (they came to it by all-to-all), so it is
 * summed with the same expert's owners in the other expert groups and divided by the data size:
 * the gradient of the mean of every rank's loss, as one process accumulating over the ranks'
 * batches. The norm counts the shared layers once per expert group and every expert once.
 *
 * @example
 * const model = nn.deferInit(() => new models.GPT({ ...cfg, moe: { experts: 4, topK: 2, capacityFactor: 1.25, drop: true } }));
 * parallel.placeExperts(model, mesh.groups.expert);
 * const strategy = new parallel.ExpertParallel(model, { data: mesh.groups.data, expert: mesh.groups.expert });
 */
export class ExpertParallel implements Strategy {
  private readonly experts: Set<Tensor>;
  private readonly shared: Tensor[];
  private readonly own: Tensor[];
  /** The owners of this rank's experts in the other expert groups (null when there is one group). */
  private readonly replicas: ProcessGroup | null = null;

  constructor(
    readonly module: Module,
    private readonly groups: ExpertParallelOptions,
  ) {
    const { data, expert } = groups;
    if (data.size % expert.size !== 0)
      throw new RangeError(`expert parallelism: an expert group of ${expert.size} does not divide the ${data.size} data ranks`);
    this.experts = expertParameters(module);
    const held = module.parameters().filter((p) => !p.isMeta && p.requiresGrad);
    this.shared = held.filter((p) => !this.experts.has(p));
    this.own = held.filter((p) => this.experts.has(p));
    // Expert groups are consecutive data ranks: data rank d holds the experts of index d mod e.
    // newGroup is collective over the data group: every rank makes every group, in order.
    for (let index = 0; data.size > expert.size && index < expert.size; index++) {
      const ranks = Array.from({ length: data.size / expert.size }, (_, g) => g * expert.size + index);
      const group = data.newGroup(ranks);
      if (group) this.replicas = group;
    }
  }

  backward(loss: Tensor, options: { sync?: boolean } = {}): void {
    loss.backward();
    if (!(options.sync ?? true)) return;
    const { data, expert } = this.groups;
    const missing = [...this.shared, ...this.own].find((p) => !p.grad);
    if (missing) throw new Error(`expert parallelism: a parameter of shape [${missing.shape.join(", ")}] got no gradient on rank ${data.rank}`);
    const works = this.shared.map((p) => data.allReduce(p.grad!, "mean", { async: true }));
    if (this.replicas) works.push(...this.own.map((p) => this.replicas!.allReduce(p.grad!, "mean", { async: true })));
    for (const w of works) w.wait();
    // The replicas' mean is the sum over the data ranks / (data / expert): scale it to / data.
    for (const p of this.own) scaleInPlace(p.grad!, 1 / expert.size);
  }

  /** Shared parameters on expert rank 0 only, experts on every rank: each counted once. */
  private counted(): Tensor[] {
    return this.groups.expert.rank === 0 ? [...this.shared, ...this.own] : this.own;
  }

  gradNorm(normType: 2 | typeof Infinity = 2): number {
    return gradNorm(this.counted(), normType, shardedNorm(this.groups.expert));
  }

  clipGradNorm(maxNorm: number, normType: 2 | typeof Infinity = 2): number {
    const norm = this.gradNorm(normType);
    clipGradNorm([...this.shared, ...this.own], maxNorm, normType, (_, op) => (op === "sum" ? norm * norm : norm));
    return norm;
  }

  unscale(gradScaler: GradScaler, optimizer: Optimizer<any>): void {
    gradScaler.unscale(optimizer, (foundInf) => anyRank(this.groups.expert, foundInf));
  }

  step(optimizer: Optimizer<any>, gradScaler?: GradScaler | null): void {
    optimizerStep(optimizer, gradScaler);
  }

  /**
   * The first expert group writes the checkpoint: its rank 0 the shared tensors, the groups and
   * its experts, the others their experts (every tensor once, whole, under the model's names).
   */
  stateDict(optimizer: Optimizer<any>): StrategyState {
    const { data, expert } = this.groups;
    const names = new Map(this.module.namedParameters().map(([name, p]) => [name, this.experts.has(p)]));
    const state = gatheredState(this.module, optimizer, expert, new Map(), {
      layout: `expert-${expert.size}`,
      writes: data.rank < expert.size,
      keep: (name) => expert.rank === 0 || names.get(name) === true,
    });
    if (expert.rank !== 0) state.paramGroups = [];
    return state;
  }

  /** Loads the shared tensors and this rank's experts from a checkpoint of any layout. */
  loadStateDict(reader: StateReader, optimizer: Optimizer<any>): void {
    loadPartState(reader, this.module, optimizer, new Map(), { rank: 0, size: 1 });
  }

  dispose(): void {
    this.replicas?.destroy();
  }
}
