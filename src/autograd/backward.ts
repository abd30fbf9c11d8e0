import { withoutAutocast } from "../ops/autocast_hook.js";
import { addInPlace, copyOf, sumOf } from "../ops/inplace.js";
import { fillWith } from "../tensor/create.js";
import { tidy } from "../tensor/scope.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { noGrad } from "./grad_mode.js";
import type { Node } from "./node.js";
import { opObserver } from "./observer.js";
import type { BackwardContext } from "./op.js";
import { asBackwardPass, fireGradReady, LeafReadiness } from "./hooks.js";

export interface BackwardOptions {
  /** Keep the saved tensors so backward can run through this graph again. */
  retainGraph?: boolean;
}

/**
 * Reverse-mode differentiation from `root`: walks the recorded nodes in reverse order of
 * execution, applies each backward rule, and adds the results into `.grad` of the leaves. Each
 * node's saved tensors are released right after its rule ran (unless retainGraph), so
 * activation memory falls as backward proceeds.
 */
export function backward(root: Tensor, gradient?: Tensor, options: BackwardOptions = {}): void {
  backwardFrom([root], [gradient ?? null], options);
}

/**
 * backward() from several tensors in one walk, as torch.autograd.backward(tensors,
 * grad_tensors): where their graphs meet, the gradients are summed before they propagate
 * further. A null gradient means 1 and needs a one-element root.
 *
 * @example
 * backwardFrom([a, b], [gradA, gradB]);
 */
export function backwardFrom(roots: readonly Tensor[], gradients: readonly (Tensor | null)[], options: BackwardOptions = {}): void {
  if (roots.length !== gradients.length) throw new Error(`backward: ${roots.length} tensors but ${gradients.length} gradients`);
  roots.forEach((root, i) => {
    const gradient = gradients[i];
    if (!root.requiresGrad) {
      throw new Error("backward: the tensor does not require grad (no tensor it was computed from has requiresGrad set)");
    }
    if (!gradient && root.size !== 1) {
      throw new Error(`backward: a tensor of shape ${formatShape(root.shape)} needs an explicit gradient; only one-element tensors get 1`);
    }
    if (gradient && (!sameShape(gradient.shape, root.shape) || gradient.dtype !== root.dtype)) {
      throw new Error(`backward: gradient ${formatShape(gradient.shape)} ${gradient.dtype} does not match the tensor ${formatShape(root.shape)} ${root.dtype}`);
    }
  });
  // Backward rules run in the dtypes their forward chose, even inside an autocast scope.
  withoutAutocast(() =>
    noGrad(() =>
      asBackwardPass(() => {
        const seeds = roots.map((root, i) => {
          const gradient = gradients[i];
          return gradient ? copyOf(gradient) : fillWith(Tensor.empty(root.shape, root.dtype), 1);
        });
        propagate(roots, seeds, options.retainGraph ?? false);
      }),
    ),
  );
}

/**
 * The walk of backwardFrom, for callers inside a backward rule (checkpoint's recomputation):
 * it takes over the seeds (each is used in place or disposed) and reads only the roots' graph
 * positions, so their storage may already be given back. Runs under noGrad.
 */
export function propagate(roots: readonly Tensor[], seeds: readonly Tensor[], retainGraph: boolean): void {
  const pending = new Map<Node, (Tensor | undefined)[]>();
  roots.forEach((root, i) => {
    const seed = seeds[i]!;
    const owned = new Set([seed]);
    if (root.node === null) {
      accumulateLeaf(root, seed, owned);
      fireGradReady(root);
    } else deliver(pending, root.node, root.outputIndex, seed, owned);
    for (const t of owned) t.dispose();
  });
  if (pending.size > 0) run(pending, retainGraph);
}

/**
 * Adds g into the gradient slot of a node's output. The first gradient is held without a copy:
 * taken over when this step owns it, else as another handle on its storage (add's backward
 * hands one gradient to both inputs). A later one is added in place only into a slot whose
 * storage nothing else holds, else out of place, so a shared gradient is never written.
 */
function deliver(pending: Map<Node, (Tensor | undefined)[]>, node: Node, index: number, g: Tensor, owned: Set<Tensor>): void {
  let slots = pending.get(node);
  if (!slots) pending.set(node, (slots = new Array(node.outputShapes.length)));
  const existing = slots[index];
  if (!existing) {
    slots[index] = takeOver(g, owned) ? g : g.share();
  } else if (existing.storage.refCount === 1) {
    addInPlace(existing, g);
  } else {
    slots[index] = sumOf(existing, g);
    existing.dispose();
  }
}

function run(pending: Map<Node, (Tensor | undefined)[]>, retainGraph: boolean): void {
  const order = reachable([...pending.keys()]);
  const readiness = LeafReadiness.track(order);
  try {
    for (const node of order) {
      const slots = pending.get(node);
      if (!slots) {
        readiness?.skipped(node);
        continue;
      }
      pending.delete(node);
      const grads = node.outputShapes.map((shape, i) => slots[i] ?? fillWith(Tensor.empty(shape, node.outputDtypes[i]!), 0));
      const ctx: BackwardContext<unknown> = {
        saved: node.saved,
        attrs: node.attrs,
        inputShapes: node.inputShapes,
        inputDtypes: node.inputDtypes,
        needsGrad: node.edges.map((e) => e !== null),
      };
      // The rule's temporaries are disposed with the scope; what it returns survives it.
      const observer = opObserver();
      const rule = (): readonly (Tensor | null | undefined)[] => tidy(() => node.op.backward!(ctx, grads));
      const inputGrads = observer ? observer.around(node.op.name, "backward", rule) : rule();
      // Output gradients the rule did not pass through are done with; disposing them first lets
      // a returned view of one (reshape's) be handed on without a copy.
      const returned = new Set<Tensor>();
      for (const g of inputGrads) if (g) returned.add(g);
      for (const g of grads) if (!returned.has(g)) g.dispose();
      const owned = new Set<Tensor>();
      for (const g of returned) if (!ctx.saved.includes(g)) owned.add(g);
      node.edges.forEach((edge, i) => {
        const g = inputGrads[i];
        if (!edge || !g) {
          if (edge?.leaf) readiness?.used(edge.leaf);
          return;
        }
        if (!sameShape(g.shape, node.inputShapes[i]!) || g.dtype !== node.inputDtypes[i]) {
          throw new Error(
            `backward of '${node.op.name}' returned a gradient ${formatShape(g.shape)} ${g.dtype} for input ${i} of ` +
              `${formatShape(node.inputShapes[i]!)} ${node.inputDtypes[i]}`,
          );
        }
        if (edge.leaf) {
          accumulateLeaf(edge.leaf, g, owned);
          readiness?.used(edge.leaf);
          return;
        }
        deliver(pending, edge.node!, edge.index, g, owned);
      });
      for (const t of owned) t.dispose();
      if (!retainGraph) node.release();
      readiness?.nodeDone();
    }
  } finally {
    for (const slots of pending.values()) for (const t of slots) t?.dispose();
  }
}

/** Whether this step owns g exclusively; if so g is taken out of `owned` (the caller keeps it). */
function takeOver(g: Tensor, owned: Set<Tensor>): boolean {
  if (!owned.has(g) || g.storage.refCount !== 1) return false;
  owned.delete(g);
  return true;
}

function accumulateLeaf(leaf: Tensor, g: Tensor, owned: Set<Tensor>): void {
  if (leaf.grad && !leaf.grad.disposed) {
    addInPlace(leaf.grad, g);
    return;
  }
  // A leaf's gradient is its own storage: optimizers and clipping update it in place.
  const grad = takeOver(g, owned) ? g : copyOf(g);
  grad.kept = true;
  grad.category = "gradient";
  leaf.grad = grad;
}

/** Nodes the roots depend on, latest first: the reverse of the order they ran in. */
function reachable(roots: Node[]): Node[] {
  const seen = new Set<Node>(roots);
  const stack = [...roots];
  while (stack.length > 0) {
    const node = stack.pop()!;
    for (const edge of node.edges) {
      if (edge?.node && !seen.has(edge.node)) {
        seen.add(edge.node);
        stack.push(edge.node);
      }
    }
  }
  return [...seen].sort((a, b) => b.seq - a.seq);
}
