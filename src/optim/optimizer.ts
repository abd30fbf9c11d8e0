import { noGrad } from "../autograd/grad_mode.js";
import { copyInto, fillInPlace } from "../ops/inplace.js";
import { zeros } from "../tensor/create.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import type { ParameterShards } from "./parameter_shards.js";

/** Hyperparameters: numbers or flags, one set per parameter group. `lr` is always there. */
export type Hyper = { lr: number } & Record<string, number | boolean | readonly number[]>;

/** A parameter group: its tensors and its own hyperparameters. */
export type ParamGroup<H extends Hyper> = H & { params: Tensor[]; initialLr: number };

/** What a caller passes: tensors, or groups that override some of the defaults. */
export type ParamsInput<H extends Hyper> = Tensor[] | ({ params: Tensor[] } & Partial<H>)[];

/** Per-parameter state: a step count and named tensors (category "optimizer"). */
export interface ParamState {
  step: number;
  tensors: Record<string, Tensor>;
}

/** A parameter a step updates, with its gradient, state and group. */
export interface DueUpdate<H extends Hyper> {
  p: Tensor;
  grad: Tensor;
  state: ParamState;
  group: ParamGroup<H>;
}

export interface OptimizerStateDict {
  /** Keyed by the parameter's index across all groups, in order. */
  state: Record<number, ParamState>;
  paramGroups: Record<string, unknown>[];
}

/**
 * The base of every optimizer, as PyTorch's: parameter groups with per-group hyperparameters,
 * per-parameter state created lazily on the first step, zeroGrad, and stateDict/loadStateDict.
 * A subclass validates its hyperparameters and applies one update to one parameter.
 *
 * @example
 * const opt = new AdamW([{ params: decayed }, { params: norms, weightDecay: 0 }], { lr: 1e-3 });
 * opt.step(); opt.zeroGrad();
 */
export abstract class Optimizer<H extends Hyper> {
  readonly paramGroups: ParamGroup<H>[] = [];
  /**
   * Set by a strategy that hands this optimizer 1-D slices of its parameters (ZeRO, shardWith):
   * how an update that needs whole-parameter quantities (LAMB's norms, Muon's matrices) gets them.
   */
  protected shards: ParameterShards | null = null;
  protected readonly state = new Map<Tensor, ParamState>();

  protected constructor(
    readonly name: string,
    params: ParamsInput<H>,
    readonly defaults: H,
  ) {
    type GroupInput = { params: Tensor[] } & Partial<H>;
    const groups: GroupInput[] = params.length > 0 && !("params" in params[0]!) ? [{ params: params as Tensor[] } as GroupInput] : (params as GroupInput[]);
    if (groups.length === 0 || groups.every((g) => g.params.length === 0)) throw new Error(`${name}: got an empty parameter list`);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a group; unspecified hyperparameters take the defaults. */
  addParamGroup(group: { params: Tensor[] } & Partial<H>): void {
    const merged = { ...this.defaults, ...group, params: [...group.params] } as H & { params: Tensor[] };
    this.validate(merged);
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    for (const p of merged.params) {
      if (seen.has(p)) throw new Error(`${this.name}: a parameter ${formatShape(p.shape)} appears in more than one group`);
      if (p.dtype !== "float32") throw new TypeError(`${this.name}: parameters must be float32 master weights, got ${p.dtype} ${formatShape(p.shape)}`);
      seen.add(p);
    }
    this.paramGroups.push({ ...merged, initialLr: merged.lr });
  }

  /**
   * Tells the optimizer that its groups now hold slices of the parameters, described by
   * `shards` (a sharding strategy calls it once, after pointing the groups at the slices).
   * @example optimizer.shardWith(new ZeroParameterShards(shard, optimizer, group));
   */
  shardWith(shards: ParameterShards): void {
    this.shards = shards;
  }

  /** Throws, naming the hyperparameter and its value, unless the group's values are valid. */
  protected abstract validate(group: H): void;

  /** Applies one update to p given its gradient; state.step has already been incremented. */
  protected abstract update(p: Tensor, grad: Tensor, state: ParamState, group: ParamGroup<H>): void;

  /** Names and creates the state tensors of a parameter on its first step. */
  protected abstract initState(p: Tensor, group: ParamGroup<H>): Record<string, Tensor>;

  /** One update of every parameter that has a gradient. */
  step(): void {
    noGrad(() => this.updateAll(this.dueUpdates()));
  }

  /**
   * Applies one update to each of `due`: update() on each in turn; an optimizer with a
   * multi-tensor kernel updates them all in one call.
   */
  protected updateAll(due: readonly DueUpdate<H>[]): void {
    for (const { p, grad, state, group } of due) this.update(p, grad, state, group);
  }

  /**
   * The parameters a step updates (those with a gradient), in order, each with its state
   * (created on its first step) and group; their step counts and versions already advanced.
   */
  protected dueUpdates(): DueUpdate<H>[] {
    const due: DueUpdate<H>[] = [];
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (!p.grad) continue;
        let state = this.state.get(p);
        if (!state) {
          state = { step: 0, tensors: this.initState(p, group) };
          for (const t of Object.values(state.tensors)) {
            t.kept = true;
            t.category = "optimizer";
          }
          this.state.set(p, state);
        }
        state.step++;
        p.version++;
        due.push({ p, grad: p.grad, state, group });
      }
    }
    return due;
  }

  /** Bytes of optimizer state kept in a file instead of memory (Adam.offloadState); 0 here. @example opt.offloadedBytes() */
  offloadedBytes(): number {
    return 0;
  }

  /**
   * A parameter whose values live in this optimizer's offload file (Adam's offloaded masters):
   * them, read into a new tensor for a checkpoint; null here and for a resident parameter.
   * @example const values = p.isMeta ? opt.offloadedParameter(p) : p;
   */
  offloadedParameter(_p: Tensor): Tensor | null {
    return null;
  }

  /**
   * Sets a parameter whose values live in this optimizer's offload file from `values` (loading
   * a checkpoint); false here and for a resident parameter.
   * @example if (p.isMeta && !opt.loadOffloadedParameter(p, values)) throw new Error("no values");
   */
  loadOffloadedParameter(_p: Tensor, _values: Tensor): boolean {
    return false;
  }

  /** Drops the gradients (setToNone, PyTorch's default) or fills them with zeros. */
  zeroGrad(setToNone = true): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (!p.grad) continue;
        if (setToNone) {
          p.grad.dispose();
          p.grad = null;
        } else {
          fillInPlace(p.grad, 0);
        }
      }
    }
  }

  /** State tensors are the optimizer's own (shared, not copied); hyperparameters are plain values. */
  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    const paramGroups: Record<string, unknown>[] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      const { params, ...hyper } = group;
      paramGroups.push({ ...hyper, params: params.map(() => index++) });
      params.forEach((p, i) => {
        const s = this.state.get(p);
        if (s) state[index - params.length + i] = s;
      });
    }
    return { state, paramGroups };
  }

  /** Restores hyperparameters and state (copied into this optimizer's tensors). */
  loadStateDict(dict: OptimizerStateDict): void {
    this.loadHyperparameters(dict.paramGroups);
    const params = this.paramGroups.flatMap((g) => g.params);
    this.clearState();
    for (const [key, saved] of Object.entries(dict.state)) {
      const p = params[Number(key)];
      if (!p) throw new Error(`${this.name}.loadStateDict: state for parameter ${key}, but there are ${params.length}`);
      this.setParamState(p, saved, `parameter ${key}`);
    }
  }

  /**
   * Restores the groups' hyperparameters from saved groups (each with its `params` list, which
   * must have as many entries as this optimizer's group); validated as a new group is.
   * @example opt.loadHyperparameters(saved.paramGroups);
   */
  loadHyperparameters(groups: readonly Record<string, unknown>[]): void {
    if (groups.length !== this.paramGroups.length) {
      throw new Error(`${this.name}.loadStateDict: ${groups.length} parameter groups saved, this optimizer has ${this.paramGroups.length}`);
    }
    groups.forEach((saved, i) => {
      const group = this.paramGroups[i]!;
      const count = (saved.params as unknown[]).length;
      if (count !== group.params.length) {
        throw new Error(`${this.name}.loadStateDict: group ${i} saved ${count} parameters, this optimizer's has ${group.params.length}`);
      }
      const { params: _ignored, ...hyper } = saved;
      Object.assign(group, hyper);
      this.validate(group);
    });
  }

  /** The state of one parameter (its own tensors, not copies), or undefined before its first step. @example opt.paramState(w)?.step */
  paramState(p: Tensor): ParamState | undefined {
    return this.state.get(p);
  }

  /** Drops every parameter's state (as before the first step). @example opt.clearState() */
  clearState(): void {
    for (const s of this.state.values()) for (const t of Object.values(s.tensors)) t.dispose();
    this.state.clear();
  }

  /**
   * Sets one parameter's state from saved tensors (copied, each of the parameter's shape);
   * `what` names the parameter in errors.
   * @example opt.setParamState(w, { step: 10, tensors: { expAvg, expAvgSq } }, "fc.weight");
   */
  setParamState(p: Tensor, saved: ParamState, what: string): void {
    const tensors: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(saved.tensors)) {
      if (!sameShape(t.shape, p.shape)) {
        for (const done of Object.values(tensors)) done.dispose();
        throw new Error(`${this.name}.loadStateDict: state '${name}' of ${what} is ${formatShape(t.shape)}, the parameter ${formatShape(p.shape)}`);
      }
      const copy = zeros(t.shape, { category: "optimizer" });
      copyInto(copy, t);
      copy.kept = true;
      tensors[name] = copy;
    }
    for (const t of Object.values(this.state.get(p)?.tensors ?? {})) t.dispose();
    this.state.set(p, { step: saved.step, tensors });
  }
}

/** Throws unless betas is a pair of numbers in [0, 1). @example checkBetas("Lion", [0.9, 0.99]) */
export function checkBetas(optimizer: string, betas: unknown): void {
  if (!Array.isArray(betas) || betas.length !== 2) throw new RangeError(`${optimizer}: betas must be a pair, got ${JSON.stringify(betas)}`);
  checkRange(optimizer, "betas[0]", betas[0], 0, 1);
  checkRange(optimizer, "betas[1]", betas[1], 0, 1);
}

/** Throws unless value is a finite number in [min, max) (or [min, max] when inclusive). */
export function checkRange(optimizer: string, name: string, value: unknown, min: number, max = Infinity, inclusive = false): void {
  const ok = typeof value === "number" && Number.isFinite(value) && value >= min && (inclusive ? value <= max : value < max);
  if (!ok) {
    const bound = max === Infinity ? `≥ ${min}` : `in [${min}, ${max}${inclusive ? "]" : ")"}`;
    throw new RangeError(`${optimizer}: ${name} must be a number ${bound}, got ${JSON.stringify(value)}`);
  }
}
