import type { Tensor } from "../tensor/tensor.js";
import type { Node } from "./node.js";

/** Runs after a leaf's `.grad` is final for the backward in progress. */
export type PostAccumulateGradHook = (leaf: Tensor) => void;

const leafHooks = new WeakMap<Tensor, Set<PostAccumulateGradHook>>();
// Leaves with at least one hook: a backward over none of them tracks nothing (no cost).
let hookedLeaves = 0;

/**
 * Calls `hook(leaf)` in every later backward as soon as the leaf's `.grad` is final (every
 * recorded use of it has contributed), while backward goes on with the rest of the graph, as
 * PyTorch's `register_post_accumulate_grad_hook`: data-parallel training starts a gradient
 * bucket's all-reduce there. A leaf the backward reaches but gives no gradient fires too
 * (its `.grad` is then whatever it was). Activation checkpointing walks each recomputed block
 * on its own: a leaf used both inside and outside a checkpointed function (or in two) fires
 * once per walk that uses it, and only the last time is its gradient whole. Returns the
 * function that removes the hook.
 *
 * @example
 * const remove = registerPostAccumulateGradHook(weight, (w) => console.log("ready", w.grad!.shape));
 * loss.backward();
 * remove();
 */
export function registerPostAccumulateGradHook(leaf: Tensor, hook: PostAccumulateGradHook): () => void {
  const hooks = leafHooks.get(leaf) ?? new Set<PostAccumulateGradHook>();
  leafHooks.set(leaf, hooks);
  if (hooks.size === 0) hookedLeaves++;
  hooks.add(hook);
  return () => {
    if (hooks.delete(hook) && hooks.size === 0) hookedLeaves--;
  };
}

/**
 * The backward call in progress, to which a hook attaches what must run later in that call
 * only: `onNodeDone(fn)` after each node's backward rule (communication in flight progresses on
 * the training thread there), `onEnd(fn)` once after the last node, before backward returns
 * (PyTorch's `queue_callback`). Both are forgotten when the call ends.
 */
export interface BackwardPass {
  onNodeDone(fn: () => void): void;
  onEnd(fn: () => void): void;
}

class Pass implements BackwardPass {
  readonly nodeDone: (() => void)[] = [];
  readonly end: (() => void)[] = [];
  onNodeDone(fn: () => void): void {
    this.nodeDone.push(fn);
  }
  onEnd(fn: () => void): void {
    this.end.push(fn);
  }
}

let current: Pass | null = null;

/**
 * The backward call in progress (null outside backward).
 * @example
 * registerPostAccumulateGradHook(w, () => currentBackward()!.onEnd(() => console.log("backward done")));
 */
export function currentBackward(): BackwardPass | null {
  return current;
}

/**
 * What a capture of a training step (src/compile) sees of backward's host side: the backward
 * calls, and the hooks and callbacks, which replay must run again where they ran (a data-parallel
 * bucket's all-reduce) instead of recording their kernels.
 */
export interface BackwardCaptureObserver {
  /** Runs one backward call's body (recording it as a section that replay wraps in asBackwardPass). */
  backwardPass(body: () => void): void;
  /** Runs a leaf's post-accumulate-grad hooks (`fire`), recorded as one host call on that leaf. */
  gradReady(leaf: Tensor, fire: () => void): void;
  /** Runs host work replay repeats by itself (a pass's callbacks): nothing in it is recorded. */
  untraced(work: () => void): void;
}

let captureObserver: BackwardCaptureObserver | null = null;

/**
 * Installs the capture observer (null removes it); returns the previous one.
 * @example const previous = setBackwardCaptureObserver(recorder);
 */
export function setBackwardCaptureObserver(next: BackwardCaptureObserver | null): BackwardCaptureObserver | null {
  const previous = captureObserver;
  captureObserver = next;
  return previous;
}

/** Runs fn as one backward call: its end callbacks run after fn returns, in the order queued. */
export function asBackwardPass(fn: () => void): void {
  const observer = captureObserver;
  const outer = current;
  const pass = new Pass();
  current = pass;
  try {
    if (observer) observer.backwardPass(fn);
    else fn();
    // An end callback may queue another (a hook that runs late): run until none is left.
    for (let i = 0; i < pass.end.length; i++) {
      const end = pass.end[i]!;
      if (observer) observer.untraced(end);
      else end();
    }
  } finally {
    current = outer;
  }
}

/** Counts each hooked leaf's pending uses in one walk and fires its hooks when none is left. */
export class LeafReadiness {
  private readonly pending = new Map<Tensor, number>();

  private constructor(nodes: readonly Node[]) {
    for (const node of nodes) {
      for (const edge of node.edges) if (edge?.leaf && leafHooks.get(edge.leaf)?.size) this.pending.set(edge.leaf, (this.pending.get(edge.leaf) ?? 0) + 1);
    }
  }

  /** Tracking for a walk over `nodes`, or null when no leaf has a hook. */
  static track(nodes: readonly Node[]): LeafReadiness | null {
    return hookedLeaves === 0 ? null : new LeafReadiness(nodes);
  }

  /** One use of `leaf` has contributed (or contributes nothing). */
  used(leaf: Tensor): void {
    const left = this.pending.get(leaf);
    if (left === undefined) return;
    this.pending.set(leaf, left - 1);
    if (left === 1) fireGradReady(leaf);
  }

  /** A node's backward has run. */
  nodeDone(): void {
    if (!current) return;
    const observer = captureObserver;
    for (const fn of current.nodeDone) {
      if (observer) observer.untraced(fn);
      else fn();
    }
  }

  /** Every leaf edge of a node that received no gradient at all. */
  skipped(node: Node): void {
    for (const edge of node.edges) if (edge?.leaf) this.used(edge.leaf);
  }
}

/** Runs a leaf's post-accumulate-grad hooks. */
export function fireGradReady(leaf: Tensor): void {
  const hooks = leafHooks.get(leaf);
  if (!hooks) return;
  const fire = (): void => {
    for (const hook of [...hooks]) hook(leaf);
  };
  if (captureObserver) captureObserver.gradReady(leaf, fire);
  else fire();
}
