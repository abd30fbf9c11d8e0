import type { Module } from "../../nn/module.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";

/** Parameters several stages use (a tied embedding and head), with the group of those stages that sums their gradients. */
export interface Tie {
  params: Tensor[];
  group: ProcessGroup;
}

/** How this rank's stage shares the model's tensors with the other stages. */
export interface StageSharing {
  /** The tensors this stage is the first to use: what it writes to a checkpoint. */
  writes: Set<Tensor>;
  /** Trained parameters it shares with a lower stage, which counts them in the gradient norm. */
  countedElsewhere: Tensor[];
  /** One per set of stages sharing trained parameters that include this one. */
  ties: Tie[];
}

/**
 * Which stage uses which of the model's tensors, from the cut's parts (part k runs on stage
 * k mod stages): the tensors this stage writes, the shared ones it leaves to a lower stage's
 * norm, and a sub-group per set of stages sharing trained parameters. newGroup is collective
 * over the pipeline group: every rank makes the same groups in the same order.
 * @example const { writes, countedElsewhere, ties } = stageSharing(parts, 2, group.rank, group);
 */
export function stageSharing(parts: readonly Module[][], stages: number, stage: number, group: ProcessGroup): StageSharing {
  const users = new Map<Tensor, Set<number>>();
  parts.forEach((part, k) => {
    for (const layer of part) for (const t of Object.values(layer.stateDict())) users.set(t, (users.get(t) ?? new Set()).add(k % stages));
  });
  const writes = new Set([...users].filter(([, using]) => Math.min(...using) === stage).map(([t]) => t));
  const countedElsewhere: Tensor[] = [];
  const shared = new Map<string, Tensor[]>();
  for (const [p, using] of users) {
    if (using.size < 2 || !p.requiresGrad) continue;
    const ranks = [...using].sort((a, b) => a - b);
    if (using.has(stage) && ranks[0] !== stage) countedElsewhere.push(p);
    shared.set(ranks.join(","), [...(shared.get(ranks.join(",")) ?? []), p]);
  }
  const ties: Tie[] = [];
  for (const ranks of [...shared.keys()].sort()) {
    const tied = group.newGroup(ranks.split(",").map(Number));
    if (tied) ties.push({ params: shared.get(ranks)!, group: tied });
  }
  return { writes, countedElsewhere, ties };
}
