import { withoutAutocast } from "../ops/autocast_hook.js";
import { addInPlace, copyOf } from "../ops/inplace.js";
import { fillWith } from "../tensor/create.js";
import { tidy } from "../tensor/scope.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { noGrad } from "./grad_mode.js";
import { fireBackwardEnd, fireGradReady, LeafReadiness } from "./hooks.js";
import type { Node } from "./node.js";
import { opObserver } from "./observer.js";
import type { BackwardContext } from "./op.js";

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
  if (!root.requiresGrad) {
    throw new Error("backward: the tensor does not require grad (no tensor it was computed from has requiresGrad set)");
  }
  if (gradient === undefined && root.size !== 1) {
    throw new Error(`backward: a tensor of shape ${formatShape(root.shape)} needs an explicit gradient; only one-element tensors get 1`);
  }
  if (gradient !== undefined && (!sameShape(gradient.shape, root.shape) || gradient.dtype !== root.dtype)) {
    throw new Error(
      `backward: gradient ${formatShape(gradient.shape)} ${gradient.dtype} does not match the tensor ${formatShape(root.shape)} ${root.dtype}`,
    );
  }
  // Backward rules run in the dtypes their forward chose, even inside an autocast scope.
  withoutAutocast(() => noGrad(() => {
    const seed = gradient ? copyOf(gradient) : fillWith(Tensor.empty(root.shape, root.dtype), 1);
    if (root.node === null) {
      accumulateLeaf(root, seed, new Set([seed]));
      fireGradReady(root);
    } else {
      run(root.node, root.outputIndex, seed, options.retainGraph ?? false);
    }
    fireBackwardEnd();
  }));
}

function run(rootNode: Node, rootIndex: number, seed: Tensor, retainGraph: boolean): void {
  const order = reachable(rootNode);
  const readiness = LeafReadiness.track(order);
  const pending = new Map<Node, (Tensor | undefined)[]>();
  const seedSlots = new Array<Tensor | undefined>(rootNode.outputShapes.length);
  seedSlots[rootIndex] = seed;
  pending.set(rootNode, seedSlots);
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
        const target = edge.node!;
        let targetSlots = pending.get(target);
        if (!targetSlots) pending.set(target, (targetSlots = new Array(target.outputShapes.length)));
        const existing = targetSlots[edge.index];
        if (existing) addInPlace(existing, g);
        else targetSlots[edge.index] = take(g, owned);
      });
      for (const t of owned) t.dispose();
      if (!retainGraph) node.release();
    }
  } finally {
    for (const slots of pending.values()) for (const t of slots) t?.dispose();
  }
}

/** Hands over g if this step owns it exclusively, else a copy, so later in-place adds are safe. */
function take(g: Tensor, owned: Set<Tensor>): Tensor {
  if (owned.has(g) && g.storage.refCount === 1) {
    owned.delete(g);
    return g;
  }
  return copyOf(g);
}

function accumulateLeaf(leaf: Tensor, g: Tensor, owned: Set<Tensor>): void {
  if (leaf.grad && !leaf.grad.disposed) {
    addInPlace(leaf.grad, g);
    return;
  }
  const grad = take(g, owned);
  grad.kept = true;
  grad.category = "gradient";
  leaf.grad = grad;
}

/** Nodes the root depends on, latest first: the reverse of the order they ran in. */
function reachable(root: Node): Node[] {
  const seen = new Set<Node>([root]);
  const stack = [root];
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
