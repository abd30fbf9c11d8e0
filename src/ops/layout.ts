import { apply, apply1, type OpDef } from "../autograd/op.js";
import { fillWith } from "../tensor/create.js";
import { kernels } from "../backends/index.js";
import { contiguousStrides, formatShape, normalizeAxis } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { requireSameDType, dt } from "./util.js";
import { stridedMeta } from "./view.js";

/**
 * Ops that move elements to a new contiguous layout: permute and transpose, slice, concat and
 * split. Each is a strided copy (copyStrided copies bits, so every dtype works), and each
 * backward is the adjoint copy: the inverse permutation, a slice placed into zeros, the pieces
 * of a concat cut back out, the gradients of a split joined.
 */

// ---- Strided copies of a region along one axis --------------------------------------------

/** Offset and strides of the elements start, start+step, … (count of them) along `axis` of a contiguous `shape`. */
function region(shape: readonly number[], axis: number, start: number, count: number, step: number) {
  const strides = contiguousStrides(shape);
  const offset = start * strides[axis]!;
  strides[axis] = strides[axis]! * step;
  return { shape: shape.map((d, i) => (i === axis ? count : d)), offset, strides };
}

/** A new tensor holding the region of x along `axis`. */
function cut(x: Tensor, axis: number, start: number, count: number, step = 1): Tensor {
  const r = region(x.shape, axis, start, count, step);
  const out = Tensor.empty(r.shape, x.dtype);
  if (out.size > 0) kernels.copyStrided(dt(x.dtype), x.data, r.offset, out.data, 0, stridedMeta(r.shape, r.strides));
  return out;
}

/** Writes src into the region of dst along `axis` that starts at `start`. */
function place(dst: Tensor, src: Tensor, axis: number, start: number, step = 1): void {
  if (src.size === 0) return;
  const r = region(dst.shape, axis, start, src.shape[axis]!, step);
  kernels.copyStrided(dt(src.dtype), src.data, 0, dst.data, r.offset, stridedMeta(r.shape, contiguousStrides(r.shape), r.strides));
}

/** The pieces laid end to end along `axis` in a new tensor of `shape`. */
function join(pieces: readonly Tensor[], axis: number, shape: readonly number[]): Tensor {
  const out = Tensor.empty(shape, pieces[0]!.dtype);
  let start = 0;
  for (const p of pieces) {
    place(out, p, axis, start);
    start += p.shape[axis]!;
  }
  return out;
}

// ---- permute and transpose -----------------------------------------------------------------

function permuteCopy(x: Tensor, dims: readonly number[]): Tensor {
  const strides = contiguousStrides(x.shape);
  const shape = dims.map((d) => x.shape[d]!);
  const out = Tensor.empty(shape, x.dtype);
  kernels.copyStrided(
    dt(x.dtype),
    x.data,
    0,
    out.data,
    0,
    stridedMeta(
      shape,
      dims.map((d) => strides[d]!),
    ),
  );
  return out;
}

export const permuteOp: OpDef<readonly number[]> = {
  name: "permute",
  forward: ([x], dims) => ({ out: permuteCopy(x!, dims) }),
  backward: ({ attrs: dims }, [g]) => {
    const inverse = new Array<number>(dims.length);
    dims.forEach((d, i) => (inverse[d] = i));
    return [permuteCopy(g!, inverse)];
  },
};

/**
 * The axes of x reordered: output axis i is input axis dims[i] (negative axes count from the
 * end). Copies into a contiguous tensor.
 * @example permute(x, [0, 2, 3, 1]) // [N, C, H, W] -> [N, H, W, C]
 */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const bad = (): never => {
    throw new RangeError(`permute: [${dims.join(", ")}] is not a permutation of the ${x.ndim} axes of ${formatShape(x.shape)}`);
  };
  if (dims.length !== x.ndim) bad();
  const resolved = dims.map((d) => (Number.isInteger(d) && d >= -x.ndim && d < x.ndim ? (d + x.ndim) % x.ndim : bad()));
  if (new Set(resolved).size !== resolved.length) bad();
  return apply1(permuteOp, [x], resolved);
}

/**
 * x with axes a and b swapped, copied.
 * @example transpose(x, -2, -1) // [B, T, D] -> [B, D, T]
 */
export function transpose(x: Tensor, a: number, b: number): Tensor {
  const i = normalizeAxis(a, x.ndim, "transpose"),
    j = normalizeAxis(b, x.ndim, "transpose");
  const dims = x.shape.map((_, k) => k);
  if (x.ndim > 0) [dims[i], dims[j]] = [j, i];
  return apply1(permuteOp, [x], dims);
}

// ---- slice ---------------------------------------------------------------------------------

interface SliceAttrs {
  axis: number;
  start: number;
  count: number;
  step: number;
}

export const sliceOp: OpDef<SliceAttrs> = {
  name: "slice",
  forward: ([x], { axis, start, count, step }) => ({ out: cut(x!, axis, start, count, step) }),
  backward: ({ attrs: { axis, start, step }, inputShapes, inputDtypes }, [g]) => {
    const gx = fillWith(Tensor.empty(inputShapes[0]!, inputDtypes[0]!), 0);
    place(gx, g!, axis, start, step);
    return [gx];
  },
};

/**
 * Elements start, start+step, … before end along `axis`, like Python's x[start:end:step]:
 * negative start and end count from the end, and both are clamped to the axis, so a range
 * past either end gives fewer elements or none. Copies.
 * @example slice(x, 1, -3)          // the last 3 columns
 * @example slice(x, 0, 0, 10, 2)    // rows 0, 2, 4, 6, 8
 */
export function slice(x: Tensor, axis: number, start: number, end = Infinity, step = 1): Tensor {
  const a = normalizeAxis(axis, x.ndim, "slice");
  if (x.ndim === 0) throw new RangeError("slice: cannot slice a 0-d tensor");
  if (!Number.isInteger(step) || step < 1) throw new RangeError(`slice: step must be an integer >= 1, got ${step}`);
  for (const [name, v] of [
    ["start", start],
    ["end", end],
  ] as const) {
    if (!Number.isInteger(v) && Math.abs(v) !== Infinity) throw new RangeError(`slice: ${name} must be an integer, got ${v}`);
  }
  const n = x.shape[a]!;
  const clamp = (v: number): number => (v < 0 ? Math.max(v + n, 0) : Math.min(v, n));
  const s = clamp(start),
    e = clamp(end);
  const count = e > s ? Math.ceil((e - s) / step) : 0;
  return apply1(sliceOp, [x], { axis: a, start: s, count, step });
}

// ---- concat and split ----------------------------------------------------------------------

interface AlongAttrs {
  axis: number;
  /** Extent along the axis of each concatenated input, or of each split output. */
  sizes: number[];
}

/** The consecutive pieces of x along the axis, or null where `wanted` says no. */
function cutAll(x: Tensor, { axis, sizes }: AlongAttrs, wanted?: readonly boolean[]): (Tensor | null)[] {
  let start = 0;
  return sizes.map((size, i) => {
    const piece = wanted && !wanted[i] ? null : cut(x, axis, start, size);
    start += size;
    return piece;
  });
}

export const concatOp: OpDef<AlongAttrs> = {
  name: "concat",
  forward: (inputs, { axis }) => {
    const shape = [...inputs[0]!.shape];
    shape[axis] = inputs.reduce((n, t) => n + t.shape[axis]!, 0);
    return { out: join(inputs, axis, shape) };
  },
  backward: ({ attrs, needsGrad }, [g]) => cutAll(g!, attrs, needsGrad),
};

/**
 * The tensors laid end to end along `axis` (negative counts from the end), like torch.cat:
 * every other extent must agree, and so must the dtypes.
 * @example concat([a, b, c], -1) // [2, 3], [2, 1], [2, 4] -> [2, 8]
 */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new RangeError("concat: expected at least one tensor, got none");
  const first = tensors[0]!;
  if (first.ndim === 0) throw new RangeError("concat: cannot concatenate 0-d tensors; unsqueeze them first");
  const a = normalizeAxis(axis, first.ndim, "concat");
  requireSameDType("concat", ...tensors);
  tensors.forEach((t, i) => {
    const agrees = t.ndim === first.ndim && t.shape.every((d, k) => k === a || d === first.shape[k]);
    if (!agrees) {
      throw new RangeError(
        `concat: tensor ${i} has shape ${formatShape(t.shape)} but tensor 0 has ${formatShape(first.shape)}; ` + `all extents but axis ${a} must agree`,
      );
    }
  });
  return apply1(concatOp, tensors, { axis: a, sizes: tensors.map((t) => t.shape[a]!) });
}

export const splitOp: OpDef<AlongAttrs> = {
  name: "split",
  forward: ([x], attrs) => ({ out: cutAll(x!, attrs) as Tensor[] }),
  backward: ({ attrs: { axis }, inputShapes }, grads) => [join(grads, axis, inputShapes[0]!)],
};

/**
 * Cuts x along `axis` into pieces, like torch.split: a number gives pieces of that extent (the
 * last one smaller when it does not divide), a list gives the extent of each piece.
 * @example split(x, 2, 1)          // [3, 5] -> [3, 2], [3, 2], [3, 1]
 * @example split(x, [1, 4], -1)    // [3, 5] -> [3, 1], [3, 4]
 */
export function split(x: Tensor, sizeOrSizes: number | readonly number[], axis = 0): Tensor[] {
  if (x.ndim === 0) throw new RangeError("split: cannot split a 0-d tensor");
  const a = normalizeAxis(axis, x.ndim, "split");
  const n = x.shape[a]!;
  let sizes: number[];
  if (typeof sizeOrSizes === "number") {
    const size = sizeOrSizes;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`split: size must be an integer >= 1, got ${size}`);
    sizes = Array.from({ length: Math.max(1, Math.ceil(n / size)) }, (_, i) => Math.min(size, n - i * size));
  } else {
    sizes = [...sizeOrSizes];
    const total = sizes.reduce((s, d) => s + d, 0);
    if (sizes.some((d) => !Number.isInteger(d) || d < 0) || total !== n) {
      throw new RangeError(
        `split: sizes [${sizes.join(", ")}] must be non-negative integers summing to ${n}, the extent of axis ${a} of ${formatShape(x.shape)}`,
      );
    }
  }
  return apply(splitOp, [x], { axis: a, sizes }) as Tensor[];
}

/**
 * x cut into `chunks` pieces of equal extent along `axis` (the last smaller), like torch.chunk;
 * fewer pieces come back when the extent is too small to fill them all.
 * @example const [q, k, v] = chunk(qkv, 3, -1)
 */
export function chunk(x: Tensor, chunks: number, axis = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks < 1) throw new RangeError(`chunk: chunks must be an integer >= 1, got ${chunks}`);
  if (x.ndim === 0) throw new RangeError("chunk: cannot chunk a 0-d tensor");
  const n = x.shape[normalizeAxis(axis, x.ndim, "chunk")]!;
  return n === 0 ? split(x, new Array<number>(chunks).fill(0), axis) : split(x, Math.ceil(n / chunks), axis);
}
