import { GPT } from "../models/gpt.js";
import { Embedding } from "../nn/embedding.js";
import { Linear } from "../nn/linear.js";
import type { Module } from "../nn/module.js";
import type { Tensor } from "../tensor/tensor.js";

/**
 * The parameters Muon orthogonalises: the hidden weight matrices (and conv kernels), as in the
 * reference. Embeddings, the output layer (the gpt's untied head, else the model's last Linear;
 * a tied head is the token embedding) and every vector (biases, norms) go to its AdamW part:
 * they are lookups or per-class readouts, not linear maps to condition.
 *
 * @example
 * const { matrices, others } = muonSplit(model);
 * new Muon([{ params: matrices }, { params: others, useMuon: false, lr: 3e-4 }]);
 */
export function muonSplit(model: Module): { matrices: Tensor[]; others: Tensor[] } {
  const excluded = new Set<Tensor>();
  let output: Module | null = null;
  for (const [, m] of model.namedModules()) {
    if (m instanceof Embedding) for (const p of m.parameters()) excluded.add(p);
    if (m instanceof Linear) output = m;
  }
  if (model instanceof GPT) output = model.head;
  for (const p of output?.parameters() ?? []) excluded.add(p);
  const params = model.parameters();
  return {
    matrices: params.filter((p) => p.ndim >= 2 && !excluded.has(p)),
    others: params.filter((p) => p.ndim < 2 || excluded.has(p)),
  };
}
