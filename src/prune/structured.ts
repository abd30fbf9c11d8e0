import type { Tensor } from "../tensor/tensor.js";
import type { Config } from "../train/config.js";
import { keptCount, l1Along, selectAlong, strongest } from "./select.js";

/** What structured pruning removes: conv output channels, hidden Linear neurons, attention heads. */
export type StructureKind = "conv" | "linear" | "heads";

/**
 * The structures a model has: a gpt's heads and its dense MLP's neurons (none in a mixture of experts).
 * @example structuresOf({ kind: "cnn", channels: [16, 32], hidden: 128, init: "default" }) // ["conv", "linear"]
 */
export function structuresOf(model: Config["model"]): StructureKind[] {
  if (model.kind === "mlp") return ["linear"];
  if (model.kind === "cnn") return ["conv", "linear"];
  return model.moe ? ["heads"] : ["heads", "linear"];
}

/**
 * The config of the model pruneStructured makes of `model`: each pruned layer keeps
 * keptCount(units, fraction) of its channels, neurons or heads (a head keeps its width). It
 * depends on the shapes only, so a run resumed after its structured cut rebuilds the smaller
 * model before loading its weights.
 * @example structuredModel({ kind: "mlp", hidden: [256, 256], init: "default" }, 0.5, ["linear"]).hidden // [128, 128]
 */
export function structuredModel(model: Config["model"], fraction: number, targets: readonly StructureKind[]): Config["model"] {
  if (model.kind === "mlp") return targets.includes("linear") ? { ...model, hidden: model.hidden.map((w) => keptCount(w, fraction)) } : model;
  if (model.kind === "cnn") {
    return {
      ...model,
      channels: targets.includes("conv") ? model.channels.map((c) => keptCount(c, fraction)) : model.channels,
      hidden: targets.includes("linear") ? keptCount(model.hidden, fraction) : model.hidden,
    };
  }
  const heads = targets.includes("heads") ? { heads: keptCount(model.heads, fraction), headDim: model.headDim ?? model.width / model.heads } : {};
  const mlp = targets.includes("linear") && !model.moe ? { mlpHidden: keptCount(model.mlpHidden ?? 4 * model.width, fraction) } : {};
  return { ...model, ...heads, ...mlp };
}

/** A smaller model: its config, its weights, and which units each pruned layer kept (by original index). */
export interface StructuredPruning {
  model: Config["model"];
  state: Record<string, Tensor>;
  /** Original indices of the kept channels, neurons or heads, by the layer's state-dict prefix ("0", "blocks.1.attn"). */
  kept: Record<string, number[]>;
}

/**
 * Removes `fraction` of each layer's conv output channels, hidden Linear neurons and attention
 * heads (those in `targets`), the ones of lowest L1 norm, and gives the smaller model's config
 * and weights: a conv's channels go with the next conv's input channels (or the first Linear's
 * columns of those channels), a Linear's neurons with the next Linear's columns, a head with
 * its q, k and v rows and the output projection's columns, a gpt MLP neuron with its fc row and
 * its fcProj column. Removing a unit whose weights and
 * bias are zero leaves the outputs as they were (ReLU(0) = 0, a zero head attends to zeros), so
 * the smaller model computes what the full one does with those units zeroed.
 * @example const small = pruneStructured(config.model, model.stateDict(), 0.5, ["conv"]);
 */
export function pruneStructured(model: Config["model"], state: Record<string, Tensor>, fraction: number, targets: readonly StructureKind[]): StructuredPruning {
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`pruneStructured: fraction ${fraction} must be above 0 and below 1`);
  const own = { ...state };
  const kept: Record<string, number[]> = {};
  // A layer cut twice (its rows, then the columns of the layer before's kept units) frees the first cut.
  const made = new Set<Tensor>();
  const put = (name: string, t: Tensor): void => {
    if (made.has(own[name]!)) own[name]!.dispose();
    own[name] = t;
    made.add(t);
  };
  const tensor = (name: string): Tensor => {
    const t = own[name];
    if (!t) throw new RangeError(`pruneStructured: the weights have no '${name}' for a ${model.kind}`);
    return t;
  };
  /** Keeps the strongest rows of layer `prefix` (weight viewed [rows, rest]) and their bias; returns their indices. */
  const keepRows = (prefix: string, rows: number): number[] => {
    const w = tensor(`${prefix}.weight`);
    const view = [rows, w.size / rows];
    const indices = strongest(l1Along(w, view, 0), keptCount(rows, fraction));
    put(`${prefix}.weight`, selectAlong(w, view, 0, indices, [indices.length, ...w.shape.slice(1)]));
    if (own[`${prefix}.bias`]) put(`${prefix}.bias`, selectAlong(tensor(`${prefix}.bias`), [rows], 0, indices));
    kept[prefix] = indices;
    return indices;
  };
  /** Keeps the input columns `indices` of layer `prefix`, each spanning `span` consecutive inputs. */
  const keepColumns = (prefix: string, indices: number[], span = 1): void => {
    const w = tensor(`${prefix}.weight`);
    const [rows, inputs] = [w.shape[0]!, w.size / w.shape[0]!];
    const n = inputs / span;
    put(
      `${prefix}.weight`,
      selectAlong(w, [rows, n, span], 1, indices, [rows, ...(w.ndim === 2 ? [indices.length * span] : [indices.length, ...w.shape.slice(2)])]),
    );
  };

  if (model.kind === "mlp") {
    if (targets.includes("linear")) {
      model.hidden.forEach((width, k) => keepColumns(String(3 + 2 * k), keepRows(String(1 + 2 * k), width)));
    }
    return { model: structuredModel(model, fraction, targets), state: own, kept };
  }
  if (model.kind === "cnn") {
    const n = model.channels.length;
    let side = 28;
    for (let i = 0; i < n; i++) side = Math.floor((side - 2) / 2);
    model.channels.forEach((c, i) => {
      if (!targets.includes("conv")) return;
      const indices = keepRows(String(3 * i), c);
      if (i + 1 < n) keepColumns(String(3 * (i + 1)), indices, 9);
      else keepColumns(String(3 * n + 1), indices, side * side);
    });
    if (targets.includes("linear")) keepColumns(String(3 * n + 3), keepRows(String(3 * n + 1), model.hidden));
    return { model: structuredModel(model, fraction, targets), state: own, kept };
  }
  if (targets.includes("linear") && !model.moe) {
    // An MLP neuron: its fc row and bias (GELU(0) = 0) and its column of fcProj.
    for (let l = 0; l < model.layers; l++) keepColumns(`blocks.${l}.fcProj`, keepRows(`blocks.${l}.fc`, model.mlpHidden ?? 4 * model.width));
  }
  if (targets.includes("heads")) pruneHeads(model, fraction, tensor, put, kept);
  return { model: structuredModel(model, fraction, targets), state: own, kept };
}

/** Removes the weakest heads of each block of a gpt (L1 of their q, k, v rows and projection columns) from `own`. */
function pruneHeads(
  model: Extract<Config["model"], { kind: "gpt" }>,
  fraction: number,
  tensor: (name: string) => Tensor,
  put: (name: string, t: Tensor) => void,
  kept: Record<string, number[]>,
): void {
  const headDim = model.headDim ?? model.width / model.heads;
  const heads = keptCount(model.heads, fraction);
  for (let l = 0; l < model.layers; l++) {
    const prefix = `blocks.${l}.attn`;
    const qkv = tensor(`${prefix}.qkv.weight`),
      proj = tensor(`${prefix}.proj.weight`);
    // A head's rows in each of q, k and v, and its columns of the output projection.
    const qkvView = [3, model.heads, headDim * model.width];
    const rowNorms = l1Along(qkv, qkvView, 1),
      columnNorms = l1Along(proj, [model.width, model.heads, headDim], 1);
    const indices = strongest(
      rowNorms.map((r, h) => r + columnNorms[h]!),
      heads,
    );
    put(`${prefix}.qkv.weight`, selectAlong(qkv, qkvView, 1, indices, [3 * heads * headDim, model.width]));
    put(`${prefix}.qkv.bias`, selectAlong(tensor(`${prefix}.qkv.bias`), [3, model.heads, headDim], 1, indices, [3 * heads * headDim]));
    put(`${prefix}.proj.weight`, selectAlong(proj, [model.width, model.heads, headDim], 1, indices, [model.width, heads * headDim]));
    kept[prefix] = indices;
  }
}
