import { noGrad } from "../../autograd/grad_mode.js";
import { concat, slice } from "../../ops/layout.js";
import { reshape } from "../../ops/view.js";
import { zeros } from "../../tensor/create.js";
import { materializeRange, materializeSlice, metaOf } from "../../tensor/materialize.js";
import { tidy } from "../../tensor/scope.js";
import { formatShape } from "../../tensor/shape.js";
import { Tensor } from "../../tensor/tensor.js";

/**
 * How a tensor-parallel rank's parameter is cut from the full one: along `dim`, the full axis is
 * `blocks` consecutive blocks (3 for a packed q, k, v projection, else 1) and each block is cut
 * into one equal chunk per rank; rank r holds chunk r of every block, side by side. A single
 * block whose extent does not divide by the ranks (a vocabulary of 65 on 2 ranks) is padded with
 * zero rows to the next multiple; the padding is never part of the full tensor.
 */
export interface TensorSplit {
  dim: number;
  blocks: number;
}

/** The padded extent of the split axis of a full axis of `extent` on `ranks` ranks. */
export function paddedExtent(extent: number, split: TensorSplit, ranks: number): number {
  if (split.blocks === 1) return Math.ceil(extent / ranks) * ranks;
  if (extent % (split.blocks * ranks) !== 0) {
    throw new RangeError(`tensor parallel: an axis of ${extent} in ${split.blocks} blocks does not split into ${ranks} equal chunks per block`);
  }
  return extent;
}

/** [start, end) of the full axis that rank `rank` holds in each block (end may pass the extent: padding). */
function chunks(extent: number, split: TensorSplit, rank: number, ranks: number): [number, number][] {
  const chunk = paddedExtent(extent, split, ranks) / (split.blocks * ranks);
  return Array.from({ length: split.blocks }, (_, block) => {
    const start = (block * ranks + rank) * chunk;
    return [start, start + chunk];
  });
}

/**
 * This rank's part of a meta parameter (built under deferInit), with the values eager init gives
 * the full one on the same seed, and zeros in the padding.
 * @example const mine = materializeSplit(meta.tokens.weight, { dim: 0, blocks: 1 }, rank, ranks);
 */
export function materializeSplit(meta: Tensor, split: TensorSplit, rank: number, ranks: number): Tensor {
  const extent = meta.shape[split.dim]!;
  if (split.dim !== 0) {
    if (split.blocks !== 1 || extent % ranks !== 0)
      throw new RangeError(`tensor parallel: axis ${split.dim} of ${formatShape(meta.shape)} does not split into ${ranks}`);
    return materializeSlice(meta, split.dim, rank, ranks);
  }
  const inner = meta.size / extent;
  const parts = chunks(extent, split, rank, ranks);
  const rows = parts.reduce((n, [start, end]) => n + end - start, 0);
  const out = Tensor.empty([rows, ...meta.shape.slice(1)], meta.dtype, meta.category);
  out.toHost().fill(0);
  let at = 0;
  for (const [start, end] of parts) {
    const real = Math.max(0, Math.min(end, extent) - start);
    if (real > 0) {
      const piece = materializeRange(meta, start * inner, real * inner);
      out.toHost().set(piece.toHost(), at * inner);
      piece.dispose();
    }
    at += end - start;
  }
  return out;
}

/**
 * This rank's part of a full tensor (a checkpoint's), zero-padded as materializeSplit's.
 * @example const mine = cutSplit(full, split, group.rank, group.size);
 */
export function cutSplit(full: Tensor, split: TensorSplit, rank: number, ranks: number): Tensor {
  const extent = full.shape[split.dim]!;
  return noGrad(() =>
    tidy(() => {
      const pieces = chunks(extent, split, rank, ranks).flatMap(([start, end]) => {
        const real = Math.max(0, Math.min(end, extent) - start);
        const shape = full.shape.map((d, i) => (i === split.dim ? end - start - real : d));
        return [...(real > 0 ? [slice(full, split.dim, start, start + real)] : []), ...(real < end - start ? [zeros(shape, { dtype: full.dtype })] : [])];
      });
      return concat(pieces, split.dim);
    }),
  );
}

/**
 * The full tensor from every rank's part: `gathered` holds the ranks' parts one after another,
 * flat (an all-gather's output), `shape` is the full tensor's.
 * @example const full = assembleSplit(gathered, split, meta.shape, group.size);
 */
export function assembleSplit(gathered: Tensor, split: TensorSplit, shape: readonly number[], ranks: number): Tensor {
  const extent = shape[split.dim]!;
  const local = shape.map((d, i) => (i === split.dim ? paddedExtent(extent, split, ranks) / ranks : d));
  return noGrad(() =>
    tidy(() => {
      const rows = reshape(gathered, [ranks, gathered.size / ranks]);
      const parts = Array.from({ length: ranks }, (_, r) => reshape(slice(rows, 0, r, r + 1), local));
      const chunk = local[split.dim]! / split.blocks;
      const ordered = Array.from({ length: split.blocks }, (_, block) => parts.map((p) => slice(p, split.dim, block * chunk, (block + 1) * chunk))).flat();
      return slice(concat(ordered, split.dim), split.dim, 0, extent);
    }),
  );
}

/** The shape of one rank's part of a full tensor of `shape` (the padded extent's share along the split axis). */
function splitShape(shape: readonly number[], split: TensorSplit, ranks: number): number[] {
  const extent = shape[split.dim]!;
  if (split.dim !== 0 && (split.blocks !== 1 || extent % ranks !== 0))
    throw new RangeError(`tensor parallel: axis ${split.dim} of ${formatShape(shape)} does not split into ${ranks}`);
  const part = split.dim === 0 ? paddedExtent(extent, split, ranks) / ranks : extent / ranks;
  return shape.map((d, i) => (i === split.dim ? part : d));
}

/**
 * This rank's part of a parameter of the full model: cut from its values, or, when it is meta
 * (built under deferInit), a meta tensor that materialises (`nn.materialize`) to the values its
 * init recipe gives this rank's part, so a rank can hold only the layers it needs.
 * @example const mine = splitOf(fullLinear.weight, { dim: 0, blocks: 1 }, tp);
 */
export function splitOf(full: Tensor, split: TensorSplit, group: { rank: number; size: number }): Tensor {
  if (!full.isMeta) return cutSplit(full, split, group.rank, group.size);
  const { rank, size } = group;
  return metaOf(splitShape(full.shape, split, size), full.dtype, full.category, () => materializeSplit(full, split, rank, size));
}
