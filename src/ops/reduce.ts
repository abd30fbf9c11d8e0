import { apply1, type OpDef } from "../autograd/op.js";
import type { DType } from "../tensor/dtype.js";
import { codes, kernels } from "../backends/index.js";
import { formatShape, normalizeAxis, sameShape, sizeOf } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { eq, div, mul } from "./binary.js";
import { requireFloat, dt } from "./util.js";
import { expand, reshape } from "./view.js";

/** Reductions over axes: sum, mean, max, min; and sumTo, the adjoint of broadcasting. */

interface ReduceAttrs {
  axes: number[];
  keepDim: boolean;
  kind: "sum" | "mean" | "max" | "min";
}

function resolveAxes(x: Tensor, axes: number | readonly number[] | undefined, op: string): number[] {
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = typeof axes === "number" ? [axes] : [...axes];
  const resolved = [...new Set(list.map((a) => normalizeAxis(a, x.ndim, op)))].sort((a, b) => a - b);
  if (resolved.length !== list.length) throw new RangeError(`${op}: repeated axis in [${list.join(", ")}]`);
  return resolved;
}

function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Runs the reduction kernel once per run of adjacent axes, last run first; the result in outDType (x's or float32). */
function reduceKernel(x: Tensor, axes: readonly number[], kind: ReduceAttrs["kind"], outDType: DType = x.dtype): Tensor {
  let shape = [...x.shape];
  let current = x;
  for (let end = axes.length - 1; end >= 0; ) {
    let start = end;
    while (start > 0 && axes[start - 1] === axes[start]! - 1) start--;
    const first = axes[start]!,
      last = axes[end]!;
    const outer = sizeOf(shape.slice(0, first));
    const r = sizeOf(shape.slice(first, last + 1));
    const inner = sizeOf(shape.slice(last + 1));
    const nextShape = [...shape.slice(0, first), ...shape.slice(last + 1)];
    const out = Tensor.empty(nextShape, outDType);
    kernels.reduce(codes.reduce[kind], dt(current.dtype), current.data, out.data, outer, r, inner, dt(outDType));
    if (current !== x) current.dispose();
    current = out;
    shape = nextShape;
    end = start - 1;
  }
  return current === x ? x.share() : current;
}

function reduceDef(name: ReduceAttrs["kind"]): OpDef<ReduceAttrs> {
  return { name, forward: reduceForward, backward: reduceBackward };
}

const reduceForward: OpDef<ReduceAttrs>["forward"] = ([x], { axes, keepDim, kind }) => {
  const reduced = reduceKernel(x!, axes, kind);
  const out = keepDim ? viewKept(reduced, keptShape(x!.shape, axes)) : reduced;
  return { out, save: kind === "max" || kind === "min" ? [x!, out] : [] };
};

const reduceBackward: NonNullable<OpDef<ReduceAttrs>["backward"]> = ({ saved, attrs: { axes, kind }, inputShapes }, [g]) => {
  const shape = inputShapes[0]!;
  const kept = keptShape(shape, axes);
  const gKept = g!.viewAs(kept);
  if (kind === "sum") return [expand(gKept, shape)];
  if (kind === "mean") return [mul(expand(gKept, shape), 1 / (sizeOf(shape) / sizeOf(kept)))];
  // max/min: the gradient is shared evenly among the elements equal to the extremum.
  const [x, y] = saved;
  const mask = eq(x!, y!.viewAs(kept));
  const count = reduceKernel(mask, axes, "sum");
  return [mul(expand(div(gKept, count.viewAs(kept)), shape), mask)];
};

/** One op per reduction, so the profiler and the autocast policy name sum, mean, max and min apart. */
export const reduceOps = { sum: reduceDef("sum"), mean: reduceDef("mean"), max: reduceDef("max"), min: reduceDef("min") };

function viewKept(t: Tensor, shape: number[]): Tensor {
  const v = t.viewAs(shape);
  t.dispose();
  return v;
}

function reduce(x: Tensor, axes: number | readonly number[] | undefined, keepDim: boolean, kind: ReduceAttrs["kind"]): Tensor {
  requireFloat(x, kind);
  const resolved = resolveAxes(x, axes, kind);
  if (kind !== "sum") {
    for (const a of resolved) {
      if (x.shape[a] === 0) throw new RangeError(`${kind}: cannot reduce the empty axis ${a} of ${formatShape(x.shape)}`);
    }
  }
  return apply1(reduceOps[kind], [x], { axes: resolved, keepDim, kind });
}

/**
 * Sum over the given axes (all by default).
 * @example sum(x)                 // a scalar
 * @example sum(x, 1, true)        // [N, C] -> [N, 1]
 */
export function sum(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  return reduce(x, axes, keepDim, "sum");
}

/** Mean over the given axes (all by default). @example mean(x, -1) */
export function mean(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  return reduce(x, axes, keepDim, "mean");
}

/**
 * Maximum over the given axes (all by default), like torch.amax: ties share the gradient.
 * @example max(logits, -1, true)
 */
export function max(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  return reduce(x, axes, keepDim, "max");
}

/** Minimum over the given axes (all by default), like torch.amin. @example min(x, 0) */
export function min(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  return reduce(x, axes, keepDim, "min");
}

/**
 * Sum over the given axes (at least one), accumulated and written in float32 whatever x's
 * float dtype, not recorded by autograd: for backward rules, such as a float32 bias's gradient
 * from a bfloat16 product, with no rounding to bfloat16 and no cast.
 * @example sumInFloat32(dy, 0)   // bf16 [rows, out] -> float32 [out]
 */
export function sumInFloat32(x: Tensor, axes: number | readonly number[]): Tensor {
  const resolved = resolveAxes(x, axes, "sumInFloat32");
  if (resolved.length === 0) throw new RangeError("sumInFloat32: no axis to sum over");
  return reduceKernel(x, resolved, "sum", "float32");
}

/**
 * Sums a broadcast gradient back to the shape of the operand that was broadcast. Returns g
 * itself when the shapes already agree.
 */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const reduced = reduceKernel(g, axes, "sum");
  return reshape(reduced, shape);
}
