import { noGrad } from "../autograd/grad_mode.js";
import { apply1, type OpDef } from "../autograd/op.js";
import { copyOf } from "../ops/inplace.js";
import { permute, slice } from "../ops/layout.js";
import { reshape } from "../ops/view.js";
import { tidy } from "../tensor/scope.js";
import { formatShape, normalizeAxis } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import type { ProcessGroup } from "./process_group.js";

// The collectives of tensor (Megatron-style) and sequence parallelism as differentiable ops:
// each forward's collective is paired with its conjugate in backward, so a model split across
// the ranks of `group` gets the gradients of the unsplit model. Every rank of the group must
// run the same ops in the same order (forward and backward).

interface RegionAttrs {
  group: ProcessGroup;
  dim: number;
}

/** x summed over the group (a new tensor; x is not written). */
function allReduced(x: Tensor, group: ProcessGroup): Tensor {
  const out = copyOf(x);
  group.allReduce(out, "sum");
  return out;
}

/** Every rank's x concatenated along dim, in rank order. */
function gathered(x: Tensor, { group, dim }: RegionAttrs): Tensor {
  return noGrad(() =>
    tidy(() => {
      const flat = Tensor.empty([group.size * x.size], x.dtype);
      group.allGather(flat, x);
      // [size, ...shape] with the rank axis moved in front of dim, then merged with it.
      const stacked = reshape(flat, [group.size, ...x.shape]);
      const order = x.shape.map((_, i) => i + 1);
      order.splice(dim, 0, 0);
      const shape = [...x.shape];
      shape[dim]! *= group.size;
      return reshape(dim === 0 ? stacked : permute(stacked, order), shape);
    }),
  );
}

/** This rank's chunk of x along dim (one of group.size equal chunks). */
function ownChunk(x: Tensor, { group, dim }: RegionAttrs): Tensor {
  const n = x.shape[dim]! / group.size;
  return noGrad(() => slice(x, dim, group.rank * n, (group.rank + 1) * n));
}

/** x summed over the group, of which this rank keeps its chunk along dim. */
function reduceScattered(x: Tensor, { group, dim }: RegionAttrs): Tensor {
  return noGrad(() =>
    tidy(() => {
      // Split dim into [size, chunk] and bring the rank axis to the front: chunk r is contiguous.
      const split = [...x.shape.slice(0, dim), group.size, x.shape[dim]! / group.size, ...x.shape.slice(dim + 1)];
      const order = split.map((_, i) => i).filter((i) => i !== dim);
      order.unshift(dim);
      const chunks = dim === 0 ? reshape(x, split) : permute(reshape(x, split), order);
      const shape = [...x.shape];
      shape[dim]! /= group.size;
      const out = Tensor.empty(shape, x.dtype);
      group.reduceScatter(out, chunks, "sum");
      return out;
    }),
  );
}

const copyToRegionOp: OpDef<RegionAttrs> = {
  name: "copyToRegion",
  forward: ([x]) => ({ out: x!.share() }),
  backward: ({ attrs }, [g]) => [allReduced(g!, attrs.group)],
};

const reduceFromRegionOp: OpDef<RegionAttrs> = {
  name: "reduceFromRegion",
  forward: ([x], { group }) => ({ out: allReduced(x!, group) }),
  backward: (_, [g]) => [g!],
};

const gatherSliceOp: OpDef<RegionAttrs> = {
  name: "gatherFromRegion",
  forward: ([x], attrs) => ({ out: gathered(x!, attrs) }),
  backward: ({ attrs }, [g]) => [ownChunk(g!, attrs)],
};

const gatherReduceScatterOp: OpDef<RegionAttrs> = {
  name: "gatherFromSequenceRegion",
  forward: ([x], attrs) => ({ out: gathered(x!, attrs) }),
  backward: ({ attrs }, [g]) => [reduceScattered(g!, attrs)],
};

const scatterToRegionOp: OpDef<RegionAttrs> = {
  name: "scatterToRegion",
  forward: ([x], attrs) => ({ out: ownChunk(x!, attrs) }),
  backward: ({ attrs }, [g]) => [gathered(g!, attrs)],
};

const reduceScatterToRegionOp: OpDef<RegionAttrs> = {
  name: "reduceScatterToRegion",
  forward: ([x], attrs) => ({ out: reduceScattered(x!, attrs) }),
  backward: ({ attrs }, [g]) => [gathered(g!, attrs)],
};

function splitAttrs(x: Tensor, group: ProcessGroup, dim: number, name: string, divides: boolean): RegionAttrs {
  const d = normalizeAxis(dim, x.ndim, name);
  if (divides && x.shape[d]! % group.size !== 0) {
    throw new RangeError(`${name}: axis ${dim} of ${formatShape(x.shape)} does not split into ${group.size} equal chunks (one per rank)`);
  }
  return { group, dim: d };
}

/**
 * Megatron's f: the identity forward, the sum of the ranks' gradients backward. Put it where a
 * replicated input enters a column-parallel layer.
 * @example const h = matmul(copyToRegion(x, tp), w1Columns);   // each rank's columns of x·W1
 */
export function copyToRegion(x: Tensor, group: ProcessGroup): Tensor {
  return apply1(copyToRegionOp, [x], { group, dim: 0 });
}

/**
 * Megatron's g: the sum over the ranks forward, the identity backward. Put it after a
 * row-parallel layer, whose ranks each hold a partial sum.
 * @example const y = reduceFromRegion(matmul(hColumns, w2Rows), tp);   // x·W1·W2 on every rank
 */
export function reduceFromRegion(x: Tensor, group: ProcessGroup): Tensor {
  return apply1(reduceFromRegionOp, [x], { group, dim: 0 });
}

/**
 * The ranks' x concatenated along `dim` (default the last) in rank order. Backward takes this
 * rank's chunk of the gradient (`backward: "slice"`, default: the gathered output is used alike
 * on every rank, as after a column-parallel layer) or the sum of the ranks' gradients scattered
 * (`"reduceScatter"`: sequence parallelism, where each rank's use of the output differs).
 * @example const logits = gatherFromRegion(localLogits, tp);     // [B, V/t] -> [B, V]
 */
export function gatherFromRegion(x: Tensor, group: ProcessGroup, options: { dim?: number; backward?: "slice" | "reduceScatter" } = {}): Tensor {
  const attrs = splitAttrs(x, group, options.dim ?? -1, "gatherFromRegion", false);
  return apply1((options.backward ?? "slice") === "slice" ? gatherSliceOp : gatherReduceScatterOp, [x], attrs);
}

/**
 * This rank's chunk of x along `dim` (default the last) forward; the ranks' gradients
 * concatenated backward. The size along `dim` must divide by the group's.
 * @example const mine = scatterToRegion(x, tp);   // [B, D] -> [B, D/t]
 */
export function scatterToRegion(x: Tensor, group: ProcessGroup, options: { dim?: number } = {}): Tensor {
  return apply1(scatterToRegionOp, [x], splitAttrs(x, group, options.dim ?? -1, "scatterToRegion", true));
}

/**
 * The sum over the ranks, of which this rank keeps its chunk along `dim` (default 0, the
 * sequence) forward; the ranks' gradients concatenated backward. Sequence parallelism's exit
 * from a row-parallel layer.
 * @example const mine = reduceScatterToRegion(partial, tp);   // [T, D] partial sums -> [T/t, D]
 */
export function reduceScatterToRegion(x: Tensor, group: ProcessGroup, options: { dim?: number } = {}): Tensor {
  return apply1(reduceScatterToRegionOp, [x], splitAttrs(x, group, options.dim ?? 0, "reduceScatterToRegion", true));
}
