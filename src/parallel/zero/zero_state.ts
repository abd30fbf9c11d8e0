import type { Module } from "../../nn/module.js";
import type { Optimizer } from "../../optim/optimizer.js";
import { formatShape, sameShape } from "../../tensor/shape.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { StateReader, StrategyState, TensorPiece } from "../state.js";
import type { ShardOptimizerState } from "./shard_optimizer_state.js";

/**
 * ZeRO's part of a checkpoint (the contract of src/parallel/state.ts): this rank's slice of every
 * trained parameter (its f32 master weights) and of each of its optimizer-state tensors, each a
 * piece that starts where the slice starts in the flattened parameter, with the step counts; the
 * lead rank adds the buffers and untrained parameters whole and the parameter groups. The ranks'
 * pieces together cover every tensor once, so the checkpoint loads at any stage and world size.
 *
 * @example const state = shardState(model, zero.shard, optimizer, "zero-2", group.rank === 0);
 */
export function shardState(module: Module, shard: ShardOptimizerState, optimizer: Optimizer<any>, layout: string, lead: boolean): StrategyState {
  shard.bind(optimizer);
  const state: StrategyState = { model: {}, optimizer: {}, steps: {}, paramGroups: [], layout };
  const names = parameterNames(module);
  for (const s of shard.slices.flat()) {
    const name = names.get(s.param)!;
    const piece = (t: Tensor): TensorPiece => ({ shape: [...s.param.shape], start: s.paramStart, data: t.viewAs([s.length]) });
    state.model[name] = piece(s.master);
    const saved = optimizer.paramState(s.master);
    if (!saved) continue;
    state.steps[name] = saved.step;
    for (const [key, t] of Object.entries(saved.tensors)) state.optimizer[`${name}.${key}`] = piece(t);
  }
  if (!lead) return state;
  for (const [name, t] of unsharded(module, shard)) state.model[name] = { shape: [...t.shape], start: 0, data: t.viewAs([t.size]) };
  optimizer.paramGroups.forEach((group, g) => {
    const { params: _views, ...hyper } = group;
    state.paramGroups.push({ ...hyper, params: shard.originalParams(optimizer, g).map((p) => names.get(p)!) });
  });
  return state;
}

/**
 * Loads this rank's slices of a checkpoint of any layout and world size into the master chunks
 * and the optimizer state (and the buffers and untrained parameters whole). The caller then
 * makes the parameters from the masters (an all-gather, or stage 3's next gathers).
 * @example loadShardState(reader, model, zero.shard, optimizer);
 */
export function loadShardState(reader: StateReader, module: Module, shard: ShardOptimizerState, optimizer: Optimizer<any>): void {
  shard.bind(optimizer);
  const names = parameterNames(module);
  const copyRange = (section: "model" | "optimizer", name: string, shape: readonly number[], start: number, into: Tensor): void => {
    const info = reader.tensors[section].get(name);
    if (!info) throw new Error(`the checkpoint has no ${section} tensor '${name}'`);
    if (!sameShape(info.shape, shape)) throw new Error(`'${name}' is ${formatShape(info.shape)} in the checkpoint, ${formatShape(shape)} here`);
    const values = reader.read(section, name, start, into.size);
    into.toHost().set(values.toHost());
    into.version++;
    values.dispose();
  };
  for (const s of shard.slices.flat()) copyRange("model", names.get(s.param)!, s.param.shape, s.paramStart, s.master);
  for (const [name, t] of unsharded(module, shard)) copyRange("model", name, t.shape, 0, t);
  if (reader.paramGroups.length === 0) return;
  optimizer.loadHyperparameters(
    reader.paramGroups.map((saved, g) => {
      const here = shard.originalParams(optimizer, g).map((p) => names.get(p)!);
      if (saved.params.length !== here.length || saved.params.some((key, i) => key !== here[i])) {
        throw new Error(`group ${g}'s parameters are [${saved.params.join(", ")}] in the checkpoint, [${here.join(", ")}] here`);
      }
      return { ...saved, params: optimizer.paramGroups[g]?.params ?? [] };
    }),
  );
  optimizer.clearState();
  const stateNames = [...reader.tensors.optimizer.keys()];
  for (const s of shard.slices.flat()) {
    const name = names.get(s.param)!,
      step = reader.steps[name];
    if (step === undefined) continue;
    const tensors: Record<string, Tensor> = {};
    try {
      for (const full of stateNames.filter((n) => n.startsWith(`${name}.`) && !n.slice(name.length + 1).includes("."))) {
        const info = reader.tensors.optimizer.get(full)!;
        if (!sameShape(info.shape, s.param.shape))
          throw new Error(`'${full}' is ${formatShape(info.shape)} in the checkpoint, ${formatShape(s.param.shape)} here`);
        tensors[full.slice(name.length + 1)] = reader.read("optimizer", full, s.paramStart, s.length);
      }
      optimizer.setParamState(s.master, { step, tensors }, `'${name}'`);
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }
}

function parameterNames(module: Module): Map<Tensor, string> {
  return new Map(module.namedParameters().map(([name, p]) => [p, name]));
}

/** The model tensors ZeRO does not shard (buffers, untrained parameters), by stateDict name. */
function unsharded(module: Module, shard: ShardOptimizerState): [string, Tensor][] {
  const sharded = new Set(shard.units.flatMap((u) => u.params));
  return Object.entries(module.stateDict()).filter(([, t]) => !sharded.has(t));
}
