import type { DType } from "../tensor/dtype.js";
import { empty } from "../tensor/create.js";
import { formatShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

/**
 * The checkpoint state contract between strategies and checkpoint files. A strategy's state is a
 * set of named flat pieces: for each model tensor (its stateDict name) and each optimizer-state
 * tensor (`<parameter name>.<state name>`, e.g. `fc1.weight.expAvg`), this rank's piece is the
 * whole tensor's shape, where the piece starts in the row-major flattened tensor and its
 * elements; plus the per-parameter step counts and the parameter groups' hyperparameters.
 * Loading goes through a StateReader, which returns any element range of any named tensor
 * whoever wrote it, so a strategy of any layout (world size, sharding) loads any checkpoint:
 * PyTorch DCP's and DeepSpeed's universal checkpoints' idea, in the fewest terms.
 */

/** One rank's piece of a named tensor: a contiguous range of its row-major elements. */
export interface TensorPiece {
  /** The whole tensor's shape. */
  shape: readonly number[];
  /** The index of the piece's first element in the flattened tensor. */
  start: number;
  /**
   * The piece's elements, 1-D, in the tensor's dtype: a handle that whoever asked for the state
   * disposes (a view of the strategy's own storage, or a copy), so see disposeState.
   */
  data: Tensor;
}

/** The pieces of one section (model or optimizer), by tensor name: one range per tensor per rank. */
export type PieceSet = Record<string, TensorPiece>;

/** The hyperparameters of one parameter group; `params` lists the group's parameters by name. */
export type SavedParamGroup = Record<string, unknown> & { params: (string | number)[] };

/** What one rank gives to (and a StateReader gives back from) a checkpoint. */
export interface StrategyState {
  /** Parameters and buffers, by their module stateDict name. */
  model: PieceSet;
  /** Optimizer state tensors, named `<parameter name>.<state name>`. */
  optimizer: PieceSet;
  /** Optimizer step count of each parameter that has state, by parameter name. */
  steps: Record<string, number>;
  /** The optimizer's parameter groups (empty when the rank does not write them). */
  paramGroups: SavedParamGroup[];
  /** The strategy that wrote the state, as the checkpoint's index records it ("single", "ddp", "zero-3"). */
  layout: string;
}

/**
 * Gives back the handles of a state's pieces (the strategy's own tensors stay alive).
 * @example const state = strategy.stateDict(optimizer); write(state); disposeState(state);
 */
export function disposeState(state: StrategyState): void {
  for (const piece of [...Object.values(state.model), ...Object.values(state.optimizer)]) piece.data.dispose();
}

/** A whole tensor's shape and dtype, as a checkpoint holds it. */
export interface TensorInfo {
  shape: readonly number[];
  dtype: DType;
}

export type StateSection = "model" | "optimizer";

/**
 * Reads a checkpoint's state in any cut: element ranges of named tensors, and the optimizer's
 * step counts and groups. A checkpoint written by any number of ranks in any layout reads the
 * same. (Version 1 checkpoints name a parameter by its index in the optimizer: their groups'
 * `params` are numbers and their steps and optimizer tensors are keyed by that index.)
 *
 * @example
 * const slice = reader.read("model", "fc1.weight", 1024, 512);  // elements 1024..1535, 1-D
 */
export interface StateReader {
  /** The tensors of each section: name → whole shape and dtype. */
  readonly tensors: Readonly<Record<StateSection, ReadonlyMap<string, TensorInfo>>>;
  readonly steps: Readonly<Record<string, number>>;
  readonly paramGroups: readonly SavedParamGroup[];
  /** A new 1-D tensor (the caller disposes it) of elements [start, start + length) of a tensor. */
  read(section: StateSection, name: string, start: number, length: number): Tensor;
}

/** Element count of a shape. */
export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** A piece as a source of elements: where it starts, how many, and how to get a range of it. */
export interface PieceSource {
  start: number;
  length: number;
  /** The piece's elements (a typed array of the tensor's dtype), fetched when first needed. */
  elements(): ArrayLike<number> & { subarray(begin: number, end: number): ArrayLike<number> };
}

/**
 * Elements [start, start + length) of one tensor, assembled from the pieces that cover them;
 * an element no piece covers is an error naming the tensor and the element.
 */
export function assembleRange(name: string, info: TensorInfo, pieces: readonly PieceSource[], start: number, length: number): Tensor {
  const total = elementCount(info.shape);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0 || start + length > total) {
    throw new RangeError(`'${name}' ${formatShape(info.shape)}: elements [${start}, ${start + length}) are outside its ${total}`);
  }
  const out = empty([length], { dtype: info.dtype });
  const target = out.toHost() as unknown as { set(values: ArrayLike<number>, offset: number): void };
  let covered = start;
  for (const piece of [...pieces].sort((a, b) => a.start - b.start)) {
    const from = Math.max(covered, piece.start),
      to = Math.min(start + length, piece.start + piece.length);
    if (from >= to) continue;
    if (from > covered) break;
    target.set(piece.elements().subarray(from - piece.start, to - piece.start), from - start);
    covered = to;
  }
  if (covered < start + length) {
    out.dispose();
    throw new RangeError(`'${name}' ${formatShape(info.shape)}: element ${covered} is in no piece of the checkpoint`);
  }
  return out;
}

/**
 * A StateReader over states held in memory (each rank's StrategyState, as the ranks gave them):
 * what a checkpoint's files read back as, without the files.
 *
 * @example
 * const reader = readerOfStates([rank0.stateDict(opt0), rank1.stateDict(opt1)]);
 * wholeModel(reader); // every model tensor, whole
 */
export function readerOfStates(states: readonly StrategyState[]): StateReader {
  const sections = { model: new Map<string, TensorInfo>(), optimizer: new Map<string, TensorInfo>() };
  const sources = { model: new Map<string, PieceSource[]>(), optimizer: new Map<string, PieceSource[]>() };
  const steps: Record<string, number> = {};
  for (const state of states) {
    for (const section of ["model", "optimizer"] as const) {
      for (const [name, piece] of Object.entries(state[section])) {
        sections[section].set(name, { shape: piece.shape, dtype: piece.data.dtype });
        const list = sources[section].get(name) ?? [];
        list.push({ start: piece.start, length: piece.data.size, elements: () => piece.data.toHost() });
        sources[section].set(name, list);
      }
    }
    Object.assign(steps, state.steps);
  }
  const paramGroups = states.find((s) => s.paramGroups.length > 0)?.paramGroups ?? [];
  return {
    tensors: sections,
    steps,
    paramGroups,
    read(section, name, start, length) {
      const info = sections[section].get(name);
      if (!info) throw new RangeError(`no ${section} tensor '${name}' in the state`);
      return assembleRange(name, info, sources[section].get(name)!, start, length);
    },
  };
}

/**
 * Every model tensor of a checkpoint, whole and shaped (new tensors; the caller disposes them):
 * what `turbine sample` and `turbine checkpoint consolidate` need, whatever layout wrote it.
 * @example model.loadStateDict(wholeModel(reader));
 */
export function wholeModel(reader: StateReader): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, info] of reader.tensors.model) {
    const flat = reader.read("model", name, 0, elementCount(info.shape));
    out[name] = flat.viewAs(info.shape);
    flat.dispose();
  }
  return out;
}
