import { captureAutocast, type AutocastReentry } from "../ops/autocast_hook.js";
import { isFloating } from "../tensor/dtype.js";
import { defaultGenerator, type GeneratorState } from "../tensor/random.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { propagate } from "./backward.js";
import { enableGrad, isGradEnabled, noGrad } from "./grad_mode.js";
import { type BackwardContext, type OpDef, recordNode } from "./op.js";

/**
 * Activation checkpointing (PyTorch's reentrant torch.utils.checkpoint): the forward runs
 * without recording, so none of fn's intermediates are kept, and one node stands for all of
 * fn. Its backward runs fn again with recording on, from detached copies of the saved inputs
 * and with the random stream rewound to where the forward drew from, then backpropagates
 * through that recomputation: the inputs' gradients go back into the outer graph, and
 * parameters fn uses (captured, not passed) get theirs added into `.grad` directly. Memory:
 * fn's inputs are kept instead of all of its activations, and one recomputation's activations
 * live at a time, freed as its backward proceeds.
 */

type Fn = (...inputs: Tensor[]) => Tensor | Tensor[];

interface CheckpointAttrs {
  fn: Fn;
  /** The default generator's state when the forward began, for dropout to replay its masks. */
  rng: GeneratorState;
  /** Random blocks the forward drew: the recomputation must draw exactly as many. */
  draws: number;
  /** The outputs' shapes and dtypes, as "[2, 3] float32": the recomputation must match them. */
  outputs: string[];
  /** The autocast scope the forward ran in, re-entered by the recomputation (null: none). */
  reenter: AutocastReentry | null;
}

function outputsOf(result: unknown, inputs: readonly Tensor[]): Tensor[] {
  const list = result instanceof Tensor ? [result] : Array.isArray(result) && result.length > 0 ? result : null;
  if (list === null) throw new TypeError(`checkpoint: fn must return a tensor or a non-empty array of tensors, got ${describe(result)}`);
  return list.map((t: unknown, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`checkpoint: output ${i} of fn is ${describe(t)}, not a tensor`);
    if (!isFloating(t.dtype)) throw new TypeError(`checkpoint: output ${i} is ${t.dtype} ${formatShape(t.shape)}; only floating outputs carry gradients`);
    const same = inputs.indexOf(t);
    if (same >= 0) throw new Error(`checkpoint: output ${i} is input ${same} itself; fn must compute its outputs (nothing to recompute otherwise)`);
    return t;
  });
}

const signature = (t: Tensor): string => `${formatShape(t.shape)} ${t.dtype}`;

function describe(value: unknown): string {
  if (value instanceof Tensor) return `a tensor ${formatShape(value.shape)}`;
  return Array.isArray(value) ? `an array of ${value.length}` : value === null ? "null" : typeof value;
}

export const checkpointOp: OpDef<CheckpointAttrs> = {
  name: "checkpoint",
  forward() {
    throw new Error("checkpoint: the checkpoint node is recorded by checkpoint(), never applied");
  },
  backward(ctx: BackwardContext<CheckpointAttrs>, grads: readonly Tensor[]) {
    const { fn, rng, draws, outputs, reenter } = ctx.attrs;
    const inputs = ctx.saved.map((t, i) => {
      const detached = t.share();
      detached.requiresGrad = ctx.needsGrad[i]!;
      return detached;
    });
    const generator = defaultGenerator();
    const now = generator.getState();
    generator.setState(rng);
    let outs: Tensor[];
    try {
      const recompute = (): Tensor | Tensor[] => enableGrad(() => fn(...inputs));
      outs = outputsOf(reenter ? reenter(recompute) : recompute(), inputs);
      const redrawn = generator.offset - rng.offset;
      if (redrawn !== draws) {
        throw new Error(
          `checkpoint: the recomputation drew ${redrawn} random blocks where the forward drew ${draws}; fn must be deterministic given its inputs`,
        );
      }
    } finally {
      generator.setState(now);
    }
    const recomputed = outs.map(signature);
    if (recomputed.join() !== outputs.join()) {
      throw new Error(
        `checkpoint: the recomputation returned ${recomputed.join(", ")} where the forward returned ${outputs.join(", ")}; ` +
          "fn must be deterministic given its inputs",
      );
    }
    // Backward needs only the outputs' graph positions, not their values: free them first, and
    // let the walk use the incoming gradients in place (this rule owns them) rather than copies.
    for (const o of outs) o.dispose();
    const roots = outs.filter((o) => o.requiresGrad);
    propagate(
      roots,
      outs.flatMap((o, i) => (o.requiresGrad ? [grads[i]!] : [])),
      false,
    );
    return inputs.map((input) => {
      const g = input.grad;
      input.grad = null;
      input.dispose();
      if (g === null) return null;
      // backward filed it as a leaf's gradient; it is an intermediate gradient of the outer graph.
      g.kept = false;
      g.category = "activation";
      return g;
    });
  },
};

/**
 * Runs fn(...inputs) without keeping its activations, and recomputes them during backward.
 * Gradients are bitwise those of calling fn directly. Random ops inside (dropout) replay the
 * same numbers if they draw from this thread's default generator (a generator of their own is
 * not rewound, so the recomputation would draw other numbers). With grad mode off it
 * is a plain call. With it on, the outputs require grad even when no input does, since the
 * parameters fn uses only appear in the recomputation. fn must be deterministic given its
 * inputs, return a floating tensor or an array of them, and not modify its inputs.
 *
 * @example
 * for (const block of blocks) x = release(checkpoint((h) => block.forward(h), x), x);
 */
export function checkpoint(fn: (...inputs: Tensor[]) => Tensor, ...inputs: Tensor[]): Tensor;
export function checkpoint(fn: (...inputs: Tensor[]) => Tensor[], ...inputs: Tensor[]): Tensor[];
export function checkpoint(fn: Fn, ...inputs: Tensor[]): Tensor | Tensor[] {
  if (typeof fn !== "function") throw new TypeError(`checkpoint: fn must be a function, got ${describe(fn)}`);
  inputs.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`checkpoint: input ${i} is ${describe(t)}, not a tensor (capture other values in fn)`);
  });
  if (!isGradEnabled()) return fn(...inputs);
  const generator = defaultGenerator();
  const rng = generator.getState();
  const result = noGrad(() => fn(...inputs));
  const outs = outputsOf(result, inputs);
  outs.forEach((t, i) => {
    if (t.node !== null) throw new Error(`checkpoint: output ${i} ${formatShape(t.shape)} was computed outside fn (it already belongs to a graph)`);
  });
  const attrs: CheckpointAttrs = { fn, rng, draws: generator.offset - rng.offset, outputs: outs.map(signature), reenter: captureAutocast() };
  recordNode(
    checkpointOp,
    attrs,
    inputs,
    outs,
    inputs.map((t) => t.share(false)),
  );
  return result instanceof Tensor ? outs[0]! : outs;
}
