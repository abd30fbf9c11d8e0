import { noGrad } from "../../autograd/grad_mode.js";
import type { Module } from "../../nn/module.js";
import { copyInto } from "../../ops/inplace.js";
import type { Optimizer } from "../../optim/optimizer.js";
import type { DType } from "../../tensor/dtype.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";
import { type StateReader, type StateSection, type StrategyState, type TensorPiece, disposeState, elementCount } from "../state.js";
import type { SplitParameter } from "./parallel_module.js";
import { assembleSplit, cutSplit } from "./split.js";

/** A rank's place in a tensor-parallel group, as the cut of a split tensor needs it. */
export interface GroupPlace {
  rank: number;
  size: number;
}

export interface GatherOptions {
  /** The layout a checkpoint's index records. */
  layout: string;
  /** Whether this rank keeps the gathered state (one rank of the group writes; the others take part in the gathers). */
  writes: boolean;
  /** Which tensors (stateDict names) go in; default all. Must be the same on every rank of the group. */
  keep?: (name: string) => boolean;
}

/** The full tensor of a split tensor's parts (gathered over the group), or the tensor itself when it is not split. */
function gatherFull(local: Tensor, split: SplitParameter | undefined, group: ProcessGroup): Tensor {
  if (!split) return local;
  const gathered = Tensor.empty([group.size * local.size], local.dtype, local.category);
  group.allGather(gathered, local);
  const out = assembleSplit(gathered, split.split, split.shape, group.size);
  gathered.dispose();
  return out;
}

function pieceOf(t: Tensor, split: SplitParameter | undefined, group: ProcessGroup): TensorPiece {
  const full = gatherFull(t, split, group);
  const piece = { shape: [...full.shape], start: 0, data: full.viewAs([full.size]) };
  if (full !== t) full.dispose();
  return piece;
}

/**
 * The full model's state of a module whose parameters are split over `group` (`splits`; the
 * others replicated), as whole-tensor checkpoint pieces: split tensors and their optimizer
 * state are all-gathered and assembled, so the checkpoint reloads on any tensor size. A
 * collective over the group (every rank calls it with the same `keep`); the ranks that do not
 * write get an empty state. Meta tensors (parts this rank does not hold) are left out.
 *
 * @example const state = gatheredState(model, optimizer, tp, splitsOf(model), { layout: "tensor-2", writes: tp.rank === 0 });
 */
export function gatheredState(
  module: Module,
  optimizer: Optimizer<any>,
  group: ProcessGroup,
  splits: ReadonlyMap<Tensor, SplitParameter>,
  options: GatherOptions,
): StrategyState {
  const state: StrategyState = { model: {}, optimizer: {}, steps: {}, paramGroups: [], layout: options.layout };
  const keep = (name: string, t: Tensor): boolean => !t.isMeta && (options.keep?.(name) ?? true);
  const names = new Map(module.namedParameters().map(([name, p]) => [p, name]));
  for (const [name, t] of [...module.namedParameters(), ...module.namedBuffers()]) if (keep(name, t)) state.model[name] = pieceOf(t, splits.get(t), group);
  for (const g of optimizer.paramGroups) {
    const { params, ...hyper } = g;
    state.paramGroups.push({ ...hyper, params: (params as Tensor[]).map((p) => names.get(p)!) });
    for (const p of params as Tensor[]) {
      const name = names.get(p)!,
        s = optimizer.paramState(p);
      if (!s || !keep(name, p)) continue;
      state.steps[name] = s.step;
      for (const [key, t] of Object.entries(s.tensors)) state.optimizer[`${name}.${key}`] = pieceOf(t, splits.get(p), group);
    }
  }
  if (options.writes) return state;
  disposeState(state);
  return { model: {}, optimizer: {}, steps: {}, paramGroups: [], layout: options.layout };
}

/**
 * The dtype and full shape of every parameter and buffer of a module whose parameters are split
 * (`splits`): the tensors of the full model's checkpoint.
 * @example const shapes = fullShapes(model, splitsOf(model));   // { "tokens.weight": { dtype, shape: [65, 64] }, ... }
 */
export function fullShapes(module: Module, splits: ReadonlyMap<Tensor, SplitParameter>): Record<string, { dtype: DType; shape: readonly number[] }> {
  const shapes: Record<string, { dtype: DType; shape: readonly number[] }> = {};
  for (const [name, t] of [...module.namedParameters(), ...module.namedBuffers()]) shapes[name] = { dtype: t.dtype, shape: splits.get(t)?.shape ?? t.shape };
  return shapes;
}

/** This rank's part of a full tensor of the checkpoint (whole when it is not split), shaped as `local`. */
function readPart(reader: StateReader, section: StateSection, name: string, local: Tensor, split: SplitParameter | undefined, place: GroupPlace): Tensor {
  const info = reader.tensors[section].get(name);
  if (!info) throw new Error(`the checkpoint has no ${section} tensor '${name}'`);
  const flat = reader.read(section, name, 0, elementCount(info.shape));
  const full = flat.viewAs(info.shape);
  flat.dispose();
  const mine = split ? cutSplit(full, split.split, place.rank, place.size) : full;
  if (mine !== full) full.dispose();
  const shaped = mine.viewAs(local.shape);
  mine.dispose();
  return shaped;
}

/**
 * Loads a checkpoint of any layout into a module that holds parts of the full model: each
 * parameter and buffer it holds (meta ones are skipped) gets its part of the full tensor of the
 * same name (its chunk at `place` when split), and its optimizer state likewise, by name; the
 * groups' hyperparameters come from the checkpoint's groups (each with as many parameters).
 *
 * @example loadPartState(reader, model, optimizer, splitsOf(model), tp);
 */
export function loadPartState(
  reader: StateReader,
  module: Module,
  optimizer: Optimizer<any>,
  splits: ReadonlyMap<Tensor, SplitParameter>,
  place: GroupPlace,
): void {
  const held = [...module.namedParameters(), ...module.namedBuffers()].filter(([, t]) => !t.isMeta);
  noGrad(() => {
    for (const [name, t] of held) {
      const mine = readPart(reader, "model", name, t, splits.get(t), place);
      copyInto(t, mine);
      mine.dispose();
    }
  });
  if (reader.paramGroups.length === 0) return;
  optimizer.loadHyperparameters(reader.paramGroups);
  optimizer.clearState();
  const stateNames = new Map<string, string[]>();
  for (const key of reader.tensors.optimizer.keys()) {
    const dot = key.lastIndexOf(".");
    stateNames.set(key.slice(0, dot), [...(stateNames.get(key.slice(0, dot)) ?? []), key.slice(dot + 1)]);
  }
  for (const [name, p] of module.namedParameters()) {
    const step = reader.steps[name];
    if (step === undefined || p.isMeta) continue;
    const tensors: Record<string, Tensor> = {};
    try {
      for (const key of stateNames.get(name) ?? []) tensors[key] = readPart(reader, "optimizer", `${name}.${key}`, p, splits.get(p), place);
      optimizer.setParamState(p, { step, tensors }, `'${name}'`);
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }
}
