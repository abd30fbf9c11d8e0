import type { Tensor } from "../tensor/tensor.js";
import type { Node } from "./node.js";

/**
 * Callbacks into every backward pass. `gradReady(leaf)` runs as soon as a leaf's `.grad` is
 * final for this backward (every recorded use of the leaf has contributed), while backward
 * goes on with the rest of the graph: data-parallel training starts a gradient bucket's
 * all-reduce there. `nodeDone()` runs after each node's backward: it lets communication in
 * flight progress on the training thread. `backwardEnd()` runs after the last node, before
 * backward returns.
 */
export interface BackwardHooks {
  gradReady?(leaf: Tensor): void;
  nodeDone?(): void;
  backwardEnd?(): void;
}

const registered = new Set<BackwardHooks>();

/**
 * Registers hooks for every later backward; returns the function that removes them.
 * @example
 * const remove = addBackwardHooks({ gradReady: (p) => console.log("ready", p.shape) });
 * loss.backward();
 * remove();
 */
export function addBackwardHooks(hooks: BackwardHooks): () => void {
  registered.add(hooks);
  return () => registered.delete(hooks);
}

/** Counts each leaf's pending uses in one backward and fires gradReady when none is left. */
export class LeafReadiness {
  private readonly pending = new Map<Tensor, number>();

  private constructor(nodes: readonly Node[]) {
    for (const node of nodes) for (const edge of node.edges) if (edge?.leaf) this.pending.set(edge.leaf, (this.pending.get(edge.leaf) ?? 0) + 1);
  }

  /** Tracking for a backward over `nodes`, or null when no hooks are registered (no cost). */
  static track(nodes: readonly Node[]): LeafReadiness | null {
    return registered.size === 0 ? null : new LeafReadiness(nodes);
  }

  /** One use of `leaf` has contributed (or contributes nothing). */
  used(leaf: Tensor): void {
    const left = this.pending.get(leaf)! - 1;
    this.pending.set(leaf, left);
    if (left === 0) fireGradReady(leaf);
  }

  /** A node's backward has run. */
  nodeDone(): void {
    for (const hooks of registered) hooks.nodeDone?.();
  }

  /** Every leaf edge of a node that received no gradient at all. */
  skipped(node: Node): void {
    for (const edge of node.edges) if (edge?.leaf) this.used(edge.leaf);
  }
}

/** Runs the gradReady hooks for a leaf. */
export function fireGradReady(leaf: Tensor): void {
  for (const hooks of registered) hooks.gradReady?.(leaf);
}

/** Runs the backwardEnd hooks. */
export function fireBackwardEnd(): void {
  for (const hooks of registered) hooks.backwardEnd?.();
}
