import { noGrad } from "../autograd/grad_mode.js";
import type { Module } from "../nn/module.js";
import { copyInto } from "../ops/inplace.js";
import type { Optimizer } from "../optim/optimizer.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import type { SavedParamGroup, StateReader, StrategyState } from "./state.js";

/**
 * The checkpoint state of a rank that holds everything whole (one process, DDP): every model
 * tensor and every optimizer-state tensor as one piece from element 0, the step counts and the
 * groups with their parameters by name. An empty state (`whole: false`) is what the other
 * replicas of a data-parallel job give: one replica's state is the job's.
 *
 * @example
 * const state = wholeState(model, optimizer, "single");
 */
export function wholeState(module: Module, optimizer: Optimizer<any>, layout: string, whole = true): StrategyState {
  const state: StrategyState = { model: {}, optimizer: {}, steps: {}, paramGroups: [], layout };
  if (!whole) return state;
  const piece = (t: Tensor) => ({ shape: [...t.shape], start: 0, data: t.viewAs([t.size]) });
  for (const [name, t] of Object.entries(module.stateDict())) state.model[name] = piece(t.isMeta ? offloadedValues(optimizer, t, name) : t);
  const names = parameterNames(module);
  for (const group of optimizer.paramGroups) {
    const { params, ...hyper } = group;
    state.paramGroups.push({ ...hyper, params: (params as Tensor[]).map((p) => nameOf(names, p, optimizer)) });
    for (const p of params as Tensor[]) {
      const s = optimizer.paramState(p);
      if (!s) continue;
      const name = nameOf(names, p, optimizer);
      state.steps[name] = s.step;
      for (const [key, t] of Object.entries(s.tensors)) state.optimizer[`${name}.${key}`] = piece(t);
    }
  }
  return state;
}

/** A parameter's values from the optimizer's offload file (an offloaded master), or an error naming it. */
function offloadedValues(optimizer: Optimizer<any>, p: Tensor, name: string): Tensor {
  const values = optimizer.offloadedParameter(p);
  if (!values) throw new Error(`'${name}' has no values on this rank: it is meta and not offloaded by ${optimizer.name}`);
  return values;
}

/**
 * Loads a checkpoint (any layout, any world size) into a module and optimizer that hold
 * everything whole. A parameter is found in the checkpoint's groups by position and must have
 * the same name there (version 1 checkpoints, whose groups list indices, are matched by
 * position alone); its optimizer state is every `<name>.<state>` tensor.
 *
 * @example
 * loadWholeState(loadCheckpoint(dir).reader, model, optimizer);
 */
export function loadWholeState(reader: StateReader, module: Module, optimizer?: Optimizer<any>): void {
  const own = module.stateDict();
  const incoming: Record<string, Tensor> = {};
  try {
    for (const [name, target] of Object.entries(own)) {
      const info = reader.tensors.model.get(name);
      if (!info) throw new Error(`the checkpoint has no model tensor '${name}'`);
      if (!sameShape(info.shape, target.shape) || info.dtype !== target.dtype) {
        throw new Error(`'${name}' is ${info.dtype} ${formatShape(info.shape)} in the checkpoint, ${target.dtype} ${formatShape(target.shape)} here`);
      }
      const flat = reader.read("model", name, 0, target.size);
      incoming[name] = flat.viewAs(target.shape);
      flat.dispose();
    }
    noGrad(() => {
      for (const [name, target] of Object.entries(own)) {
        if (!target.isMeta) copyInto(target, incoming[name]!);
        else if (!optimizer?.loadOffloadedParameter(target, incoming[name]!)) throw new Error(`'${name}' has no values on this rank to load into`);
      }
    });
  } finally {
    for (const t of Object.values(incoming)) t.dispose();
  }
  if (optimizer && reader.paramGroups.length > 0) loadOptimizerState(reader, module, optimizer);
}

function loadOptimizerState(reader: StateReader, module: Module, optimizer: Optimizer<any>): void {
  optimizer.loadHyperparameters(reader.paramGroups);
  optimizer.clearState();
  const names = parameterNames(module);
  const stateNames = groupStateNames(reader);
  optimizer.paramGroups.forEach((group, g) => {
    const saved = reader.paramGroups[g]!;
    (group.params as Tensor[]).forEach((p, i) => {
      const name = nameOf(names, p, optimizer),
        key = savedKey(saved, i, name, g);
      const step = reader.steps[key];
      if (step === undefined) return;
      const tensors: Record<string, Tensor> = {};
      try {
        for (const stateName of stateNames.get(key) ?? []) {
          const flat = reader.read("optimizer", `${key}.${stateName}`, 0, p.size);
          tensors[stateName] = flat.viewAs(p.shape);
          flat.dispose();
        }
        optimizer.setParamState(p, { step, tensors }, `'${name}'`);
      } finally {
        for (const t of Object.values(tensors)) t.dispose();
      }
    });
  });
}

/** The key a checkpoint's group gives its i-th parameter: its name (checked) or, in version 1, its index. */
function savedKey(saved: SavedParamGroup, i: number, name: string, g: number): string {
  const key = saved.params[i];
  if (typeof key === "number") return String(key);
  if (key !== name) throw new Error(`group ${g}'s parameter ${i} is '${key}' in the checkpoint, '${name}' here`);
  return key;
}

/** Parameter key → the names of its optimizer-state tensors (`<key>.<state>`, the state name has no dot). */
function groupStateNames(reader: StateReader): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const full of reader.tensors.optimizer.keys()) {
    const dot = full.lastIndexOf(".");
    const key = full.slice(0, dot);
    out.set(key, [...(out.get(key) ?? []), full.slice(dot + 1)]);
  }
  return out;
}

function parameterNames(module: Module): Map<Tensor, string> {
  return new Map([...module.namedParameters()].map(([name, p]) => [p, name]));
}

function nameOf(names: Map<Tensor, string>, p: Tensor, optimizer: Optimizer<any>): string {
  const name = names.get(p);
  if (name === undefined) throw new Error(`${optimizer.name}: a parameter ${formatShape(p.shape)} of the optimizer is not in the model`);
  return name;
}
