import type { Module } from "../../nn/module.js";
import { clipGradNorm, gradNorm, type NormCombine } from "../../optim/clip.js";
import type { Optimizer } from "../../optim/optimizer.js";
import { addInPlace } from "../../ops/inplace.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup, Work } from "../process_group.js";
import { shardedNorm } from "../sharded_norm.js";
import type { StateReader, StrategyState } from "../state.js";
import { ShardOptimizerState } from "../zero/shard_optimizer_state.js";
import { allGatherUnits } from "../zero/gather_units.js";
import { unitsBySize } from "../zero/partition.js";
import { shardState } from "../zero/zero_state.js";

const MiB = 2 ** 20;

/**
 * ZeRO-1 for one pipeline stage across its data group (the same stage of every pipeline): the
 * stage's trained parameters are laid out in units (ZeRO's partition.ts) and each data rank keeps
 * the f32 master weights and optimizer state of its chunk only. When a step's last micro-batch is
 * done, each unit's gradients are reduce-scattered (a mean) once, the rank's optimizer updates its
 * chunk, and the chunks are all-gathered back into the stage's parameters. The update equals DDP
 * across pipelines (the same averaged gradients feed the same elementwise update).
 *
 * The optimizer holds the whole model's parameters (every rank builds it whole): `bind` drops the
 * other stages' ones (they get no gradient here) and points it at this rank's master views,
 * moving any state it already had (a resume loaded before the stage was cut) to them.
 *
 * @example
 * const zero = new StageZero(stageParams, mesh.groups.data);
 * zero.reduceGradients();      // after the step's last backward
 * zero.step(optimizer);        // this rank's chunk, then the all-gather
 */
export class StageZero {
  readonly shard: ShardOptimizerState;
  /** Per bound optimizer: its groups' parameters before binding (the whole model's, in order). */
  private readonly wholeGroups = new WeakMap<Optimizer<any>, Tensor[][]>();

  constructor(
    params: readonly Tensor[],
    readonly group: ProcessGroup,
  ) {
    for (const p of params)
      if (p.dtype !== "float32") throw new TypeError(`pipeline with ZeRO-1: parameters must be float32 master weights, got ${p.dtype} [${p.shape.join(", ")}]`);
    const units = unitsBySize(params, 25 * MiB, MiB, group.size);
    this.shard = new ShardOptimizerState(units, group.rank, (s, into) => into.toHost().set(s.param.toHost().subarray(s.paramStart, s.paramStart + s.length)));
  }

  /** Every trained parameter of the stage. */
  get params(): Tensor[] {
    return this.shard.units.flatMap((u) => [...u.params]);
  }

  /**
   * Moves each parameter's whole gradient into its unit's flat buffer (a parameter without one
   * counts zeros) and reduce-scatters the units: this rank's masters then hold its chunk of the
   * data group's mean; the parameters' own `.grad` are freed.
   */
  reduceGradients(): void {
    const size = this.group.size;
    const pending: { flat: Tensor; extra: Tensor | null; work: Work }[] = this.shard.units.map((unit, u) => {
      const flat = Tensor.empty([unit.chunk * size], "float32", "gradient");
      const values = flat.toHost();
      values.fill(0, unit.elements);
      unit.params.forEach((p, i) => {
        const into = values.subarray(unit.offsets[i]!, unit.offsets[i]! + p.size);
        if (p.grad && !p.grad.disposed) {
          into.set(p.grad.toHost());
          p.grad.dispose();
        } else into.fill(0);
        p.grad = null;
      });
      // Two synced steps without zeroGrad between them add up, as the parameters' own gradients do.
      const extra = this.shard.holdsGradients(u) ? Tensor.empty([unit.chunk], "float32", "gradient") : null;
      return { flat, extra, work: this.group.reduceScatter(extra ?? this.shard.gradChunks[u]!, flat, "mean", { async: true }) };
    });
    pending.forEach(({ flat, extra, work }, u) => {
      work.wait();
      flat.dispose();
      if (extra) {
        addInPlace(this.shard.gradChunks[u]!, extra);
        extra.dispose();
      }
      this.shard.receiveGradients(u);
    });
  }

  /**
   * Points the optimizer at this rank's master views, once: the parameters of other stages are
   * dropped, and any state of this stage's parameters moves to their slices.
   */
  bind(optimizer: Optimizer<any>): void {
    if (this.wholeGroups.has(optimizer)) return;
    const mine = new Set(this.params);
    this.wholeGroups.set(
      optimizer,
      optimizer.paramGroups.map((g) => [...g.params]),
    );
    const moved = this.shard.slices.flat().flatMap((s) => {
      const state = optimizer.paramState(s.param);
      if (!state) return [];
      const tensors = Object.fromEntries(Object.entries(state.tensors).map(([k, t]) => [k, t.viewAs([t.size]).viewRange(s.paramStart, [s.length])]));
      return [{ master: s.master, step: state.step, tensors }];
    });
    for (const g of optimizer.paramGroups) g.params = g.params.filter((p: Tensor) => mine.has(p));
    this.shard.bind(optimizer);
    if (moved.length === 0) return;
    optimizer.clearState();
    for (const { master, step, tensors } of moved) optimizer.setParamState(master, { step, tensors }, "a pipeline stage's slice");
  }

  /** The optimizer's step on this rank's chunk, then every unit all-gathered into the parameters. */
  step(optimizer: Optimizer<any>, run: () => void): void {
    this.bind(optimizer);
    run();
    this.gatherParameters();
  }

  /**
   * The gradient norm over this rank's chunks, combined over the data group and then by
   * `overStages`; `countedElsewhere` (parameters another stage counts) are left out.
   */
  gradNorm(normType: 2 | typeof Infinity, overStages: NormCombine, countedElsewhere: readonly Tensor[]): number {
    const skip = new Set(countedElsewhere);
    const counted = this.shard.slices
      .flat()
      .filter((s) => !skip.has(s.param))
      .map((s) => s.master);
    const overData = shardedNorm(this.group);
    return gradNorm(counted, normType, (partial, op) => overStages(overData(partial, op), op));
  }

  /** Scales this rank's chunks of the gradients by the one factor of the whole model's `norm`. */
  clip(maxNorm: number, normType: 2 | typeof Infinity, norm: number): void {
    clipGradNorm(this.shard.allMasters, maxNorm, normType, (_, op) => (op === "sum" ? norm * norm : norm));
  }

  /**
   * This rank's pieces of a checkpoint: the slices (master weights, optimizer state, steps) of
   * the parameters in `writes`; the whole-tensor rest is the caller's.
   */
  statePieces(module: Module, optimizer: Optimizer<any>, writes: ReadonlySet<Tensor>, state: StrategyState): void {
    this.bind(optimizer);
    const names = new Map(module.namedParameters().map(([name, p]) => [p, name]));
    const written = new Set(this.params.filter((p) => writes.has(p)).map((p) => names.get(p)!));
    const all = shardState(module, this.shard, optimizer, state.layout, false);
    for (const section of ["model", "optimizer"] as const)
      for (const [key, piece] of Object.entries(all[section])) {
        const name = section === "model" ? key : key.slice(0, key.lastIndexOf("."));
        if (written.has(name)) state[section][key] = piece;
        else piece.data.dispose();
      }
    for (const [name, step] of Object.entries(all.steps)) if (written.has(name)) state.steps[name] = step;
  }

  /** The optimizer's groups as the whole model names them (checkpoints list every stage's parameters). */
  paramGroups(module: Module, optimizer: Optimizer<any>): StrategyState["paramGroups"] {
    this.bind(optimizer);
    const names = new Map(module.namedParameters().map(([name, p]) => [p, name]));
    return optimizer.paramGroups.map((group, g) => {
      const { params: _masters, ...hyper } = group;
      return { ...hyper, params: this.wholeGroups.get(optimizer)![g]!.map((p) => names.get(p)!) };
    });
  }

  /** Loads this rank's slices (weights and optimizer state) from a checkpoint of any layout, then gathers the parameters. */
  load(reader: StateReader, module: Module, optimizer: Optimizer<any>): void {
    this.bind(optimizer);
    const names = new Map(module.namedParameters().map(([name, p]) => [p, name]));
    const read = (section: "model" | "optimizer", name: string, start: number, into: Tensor): void => {
      if (!reader.tensors[section].has(name)) throw new Error(`the checkpoint has no ${section} tensor '${name}'`);
      const values = reader.read(section, name, start, into.size);
      into.toHost().set(values.toHost());
      into.version++;
      values.dispose();
    };
    if (reader.paramGroups.length > 0)
      optimizer.loadHyperparameters(reader.paramGroups.map((saved, g) => ({ ...saved, params: optimizer.paramGroups[g]?.params ?? [] })));
    optimizer.clearState();
    const stateNames = [...reader.tensors.optimizer.keys()];
    for (const s of this.shard.slices.flat()) {
      const name = names.get(s.param)!;
      read("model", name, s.paramStart, s.master);
      const step = reader.steps[name];
      if (step === undefined) continue;
      const tensors: Record<string, Tensor> = {};
      for (const full of stateNames.filter((n) => n.startsWith(`${name}.`) && !n.slice(name.length + 1).includes(".")))
        tensors[full.slice(name.length + 1)] = reader.read("optimizer", full, s.paramStart, s.length);
      optimizer.setParamState(s.master, { step, tensors }, `'${name}'`);
      for (const t of Object.values(tensors)) t.dispose();
    }
    this.gatherParameters();
  }

  /** All-gathers every unit's chunks and copies them into the parameters. */
  private gatherParameters(): void {
    allGatherUnits(this.shard.units, this.shard.masters, this.group);
  }
}
