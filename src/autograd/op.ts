import { type AutocastInputs, autocastActive, autocastInputs } from "../ops/autocast_hook.js";
import type { OpName } from "../ops/registry.js";
import type { DType } from "../tensor/dtype.js";
import { trackNode } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { isGradEnabled } from "./grad_mode.js";
import { type Edge, Node } from "./node.js";
import { opObserver } from "./observer.js";
import { saveForBackward } from "./saved_tensors.js";

/** What a forward rule returns. */
export interface ForwardResult {
  out: Tensor | Tensor[];
  /** Existing tensors (inputs, outputs) the backward rule needs. */
  save?: Tensor[];
  /** Tensors made only for backward; they are disposed at once when nothing is recorded. */
  scratch?: Tensor[];
}

/** What a backward rule sees. `saved` lists `save` then `scratch`, in order. */
export interface BackwardContext<A> {
  readonly saved: readonly Tensor[];
  readonly attrs: A;
  readonly inputShapes: readonly (readonly number[])[];
  readonly inputDtypes: readonly DType[];
  /** Which inputs need a gradient; a rule may skip the others (return null). */
  readonly needsGrad: readonly boolean[];
}

/**
 * One entry of the op table: the forward rule and the backward rule side by side. The
 * backward rule gets one gradient per output and returns one per input (null for none); it
 * runs without recording, and may return an output gradient itself.
 */
export interface OpDef<A> {
  /** Its op table entry (src/ops/registry.ts), which holds its autocast rule. */
  readonly name: OpName;
  forward(inputs: readonly Tensor[], attrs: A, recording: boolean): ForwardResult;
  /** Absent for ops whose outputs carry no gradient (comparisons, argmax). */
  backward?(ctx: BackwardContext<A>, grads: readonly Tensor[]): readonly (Tensor | null | undefined)[];
}

/**
 * Runs an op's forward rule and, when grad mode is on and an input requires a gradient,
 * records a node so backward can apply its backward rule. Inside an autocast scope the inputs
 * are first cast by the op's rule in the op table (through the differentiable cast op, so the
 * node's inputs are the casts); outside one this costs a flag check.
 */
export function apply<A>(op: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor | Tensor[] {
  if (autocastActive) {
    const cast = autocastInputs(op.name, inputs);
    if (cast !== null) return applyCast(op, cast, attrs);
  }
  return run(op, inputs, attrs);
}

/** apply() on the policy's inputs; the casts made for this call alone are freed after it. */
function applyCast<A>(op: OpDef<A>, cast: AutocastInputs, attrs: A): Tensor | Tensor[] {
  try {
    return run(op, cast.inputs, attrs);
  } finally {
    for (const t of cast.temporaries) t.dispose();
  }
}

function run<A>(op: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor | Tensor[] {
  let recording = false;
  if (op.backward && isGradEnabled()) {
    for (const t of inputs) {
      if (t.requiresGrad) {
        recording = true;
        break;
      }
    }
  }
  const observer = opObserver();
  const result = observer ? observer.around(op.name, "forward", () => op.forward(inputs, attrs, recording)) : op.forward(inputs, attrs, recording);
  if (!recording) {
    if (result.scratch) for (const t of result.scratch) t.dispose();
    return result.out;
  }
  const saved: Tensor[] = [];
  if (result.save) for (const t of result.save) saved.push(saveForBackward(t));
  if (result.scratch) {
    for (const t of result.scratch) {
      saved.push(t.share(false));
      t.dispose();
    }
  }
  recordNode(op, attrs, inputs, Array.isArray(result.out) ? result.out : [result.out], saved);
  return result.out;
}

/**
 * Records the node of an op that ran: edges to the inputs that require grad, the tensors its
 * backward needs (handles it owns), and the outputs marked as its results.
 */
export function recordNode<A>(op: OpDef<A>, attrs: A, inputs: readonly Tensor[], outs: readonly Tensor[], saved: Tensor[]): Node {
  const edges: (Edge | null)[] = inputs.map((t) =>
    !t.requiresGrad ? null : t.node ? { node: t.node, index: t.outputIndex, leaf: null } : { node: null, index: 0, leaf: t },
  );
  const node = new Node(
    op,
    attrs,
    edges,
    inputs.map((t) => t.shape),
    inputs.map((t) => t.dtype),
    outs.map((t) => t.shape),
    outs.map((t) => t.dtype),
    saved,
  );
  trackNode(node);
  outs.forEach((t, i) => {
    t.node = node;
    t.outputIndex = i;
    t.requiresGrad = true;
  });
  return node;
}

/** apply() for ops with exactly one output. */
export function apply1<A>(op: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor {
  return apply(op, inputs, attrs) as Tensor;
}
