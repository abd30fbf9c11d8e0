import type { Optimizer } from "../../optim/optimizer.js";
import { Tensor } from "../../tensor/tensor.js";
import { fillWith } from "../../tensor/create.js";
import { slicesOfRank, type ParamSlice, type Unit } from "./partition.js";

/** One parameter's slice on this rank, with its views of the chunk's master weights and gradients. */
export interface ShardSlice extends ParamSlice {
  /** The f32 master weights of the slice (1-D), the tensor the optimizer updates and keys its state by. */
  readonly master: Tensor;
}

/**
 * What a ZeRO rank updates: for every unit, its f32 chunk of the master weights and of the
 * averaged gradients, and per parameter slice a 1-D view of each. The model's optimizer is bound
 * to the slices (its parameter groups then list the master views instead of the parameters), so
 * its state (Adam's moments) exists only for this rank's elements, and param groups, weight
 * decay rules and any elementwise optimizer work unchanged. The one place that holds the
 * sharded optimizer state: a store that keeps it elsewhere (disk) goes behind this class.
 *
 * @example
 * const shard = new ShardOptimizerState(units, group.rank, (s, into) => into.toHost().set(s.param.toHost().subarray(s.paramStart, s.paramStart + s.length)));
 * shard.bind(optimizer);      // optimizer.paramGroups now hold this rank's master views
 * shard.receiveGradients(0);  // after the reduce-scatter into shard.gradChunks[0]
 * optimizer.step();           // updates shard.masters
 */
export class ShardOptimizerState {
  /** Per unit: this rank's chunk of the master weights (padding elements stay zero). */
  readonly masters: Tensor[];
  /** Per unit: this rank's chunk of the averaged gradients. */
  readonly gradChunks: Tensor[];
  /** Per unit: the parameter slices this rank owns. */
  readonly slices: ShardSlice[][];
  private readonly masterOf = new Map<Tensor, Tensor>();
  private readonly masterSet = new Set<Tensor>();
  /** Per bound optimizer: each group's parameters before binding (the model's, in order). */
  private readonly originals = new WeakMap<Optimizer<any>, Tensor[][]>();

  /** `fill` writes a slice's initial values into its master view. */
  constructor(
    readonly units: readonly Unit[],
    rank: number,
    fill: (slice: ParamSlice, into: Tensor) => void,
  ) {
    this.masters = units.map((u) => kept(Tensor.empty([u.chunk], "float32", "parameter")));
    this.gradChunks = units.map((u) => kept(Tensor.empty([u.chunk], "float32", "gradient")));
    this.slices = units.map((unit, i) => {
      fillWith(this.masters[i]!, 0);
      return slicesOfRank(unit, rank).map((s) => {
        const master = kept(this.masters[i]!.viewRange(s.chunkStart, [s.length]));
        fill(s, master);
        this.masterOf.set(s.param, master);
        this.masterSet.add(master);
        return { ...s, master };
      });
    });
  }

  /** Every master view of this rank, in unit order (the tensors the optimizer updates). */
  get allMasters(): Tensor[] {
    return this.slices.flatMap((unit) => unit.map((s) => s.master));
  }

  /**
   * Points the optimizer at this rank's slices, once: each parameter of its groups is replaced
   * by its master view, or dropped where this rank owns none of it.
   */
  bind(optimizer: Optimizer<any>): void {
    if (this.originals.has(optimizer)) return;
    this.originals.set(
      optimizer,
      optimizer.paramGroups.map((g) => [...g.params]),
    );
    for (const group of optimizer.paramGroups) {
      group.params = group.params.flatMap((p: Tensor) => {
        if (this.masterSet.has(p)) return [p];
        if (!this.units.some((u) => u.params.includes(p))) {
          throw new Error(`ZeRO: the optimizer holds a parameter of shape [${p.shape.join(", ")}] that is not one of the model's trained parameters`);
        }
        const master = this.masterOf.get(p);
        return master ? [master] : [];
      });
    }
  }

  /**
   * The model parameters group `index` of a bound optimizer held before binding (checkpoints
   * name a group's parameters by them, whatever this rank's slices).
   * @example shard.originalParams(optimizer, 0).length
   */
  originalParams(optimizer: Optimizer<any>, index: number): Tensor[] {
    const groups = this.originals.get(optimizer);
    if (!groups?.[index]) throw new Error(`ZeRO: group ${index} of an optimizer not bound to this shard`);
    return groups[index];
  }

  /** Makes each master view's `.grad` its view of unit `index`'s gradient chunk. */
  receiveGradients(index: number): void {
    for (const s of this.slices[index]!) {
      if (s.master.grad && !s.master.grad.disposed) continue;
      // Kept: made during backward, inside the caller's tidy() scope; zeroGrad disposes it.
      s.master.grad = kept(this.gradChunks[index]!.viewRange(s.chunkStart, [s.length]));
    }
  }

  /** Whether unit `index` holds gradients from an earlier synced backward not yet zeroed. */
  holdsGradients(index: number): boolean {
    return this.slices[index]!.some((s) => s.master.grad !== null && !s.master.grad.disposed);
  }
}

function kept(t: Tensor): Tensor {
  t.kept = true;
  return t;
}
