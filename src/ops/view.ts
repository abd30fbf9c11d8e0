import { apply1, type OpDef } from "../autograd/op.js";
import { formatShape, normalizeAxis, sameShape, sizeOf } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { kernels } from "../backends/index.js";
import { broadcastShapes } from "./broadcast.js";
import { sumTo } from "./reduce.js";
import { dt } from "./util.js";

/** Views: tensors that share their input's storage under another shape, and expand. */

export const reshapeOp: OpDef<readonly number[]> = {
  name: "reshape",
  forward: ([x], shape) => ({ out: x!.viewAs(shape) }),
  backward: ({ inputShapes }, [g]) => [g!.viewAs(inputShapes[0]!)],
};

/**
 * The same elements under another shape, without copying; one extent may be -1 (inferred).
 * @example reshape(x, [-1, 784])
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const resolved = resolveShape(shape, x.size, x.shape);
  if (sameShape(resolved, x.shape)) return apply1(reshapeOp, [x], x.shape);
  return apply1(reshapeOp, [x], resolved);
}

function resolveShape(shape: readonly number[], size: number, from: readonly number[]): number[] {
  const out = [...shape];
  const infer = out.indexOf(-1);
  if (infer !== out.lastIndexOf(-1)) throw new RangeError(`reshape: only one extent may be -1, got ${formatShape(shape)}`);
  const known = out.reduce((p, d) => (d === -1 ? p : p * d), 1);
  if (out.some((d) => !Number.isInteger(d) || d < -1)) throw new RangeError(`reshape: invalid shape ${formatShape(shape)}`);
  if (infer >= 0) {
    if (known === 0 || size % known !== 0) throw new RangeError(`reshape: cannot view ${formatShape(from)} as ${formatShape(shape)}`);
    out[infer] = size / known;
  }
  if (sizeOf(out) !== size) throw new RangeError(`reshape: cannot view ${formatShape(from)} (${size} elements) as ${formatShape(shape)}`);
  return out;
}

/** Merges axes start..end into one. @example flatten(x, 1) // [N, C, H, W] -> [N, C*H*W] */
export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeAxis(start, x.ndim, "flatten"),
    e = normalizeAxis(end, x.ndim, "flatten");
  if (s > e) throw new RangeError(`flatten: start axis ${start} comes after end axis ${end}`);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Inserts an axis of extent 1. @example unsqueeze(x, 0) // [3] -> [1, 3] */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.ndim + 1, "unsqueeze");
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/** Removes an axis of extent 1 (or all of them). @example squeeze(x, 1) // [3, 1] -> [3] */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined)
    return reshape(
      x,
      x.shape.filter((d) => d !== 1),
    );
  const a = normalizeAxis(axis, x.ndim, "squeeze");
  if (x.shape[a] !== 1) return x.share();
  return reshape(x, [...x.shape.slice(0, a), ...x.shape.slice(a + 1)]);
}

/**
 * A tensor sharing x's storage that autograd treats as a constant.
 * @example const target = detach(prediction);
 */
export function detach(x: Tensor): Tensor {
  return x.share();
}

export const expandOp: OpDef<readonly number[]> = {
  name: "expand",
  forward: ([x], shape) => {
    const out = Tensor.empty(shape, x!.dtype);
    kernels.copyStrided(dt(x!.dtype), x!.data, 0, out.data, 0, stridedMeta(shape, broadcastStrides(x!.shape, shape)));
    return { out };
  },
  backward: ({ inputShapes }, [g]) => [sumTo(g!, inputShapes[0]!)],
};

/**
 * x repeated along axes of extent 1 (or missing in front) to `shape`, copied.
 * @example expand(bias, [32, 10]) // [10] -> [32, 10]
 */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const target = broadcastShapes(x.shape, shape, "expand");
  if (!sameShape(target, shape)) throw new RangeError(`expand: ${formatShape(x.shape)} cannot expand to ${formatShape(shape)}`);
  return apply1(expandOp, [x], [...shape]);
}

/** Strides (0 on broadcast axes) with which x is read as `shape`. */
function broadcastStrides(from: readonly number[], shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(0);
  let step = 1;
  for (let i = from.length - 1; i >= 0; i--) {
    const d = shape.length - from.length + i;
    strides[d] = from[i] === 1 ? 0 : step;
    step *= from[i]!;
  }
  return strides;
}

const copyMeta = new Int32Array(1 + 12 * 3);
// The merged dimensions, innermost first: reused by every call, so a copy allocates nothing.
const dims: number[] = [],
  src: number[] = [],
  dst: number[] = [];

/**
 * Packs [ndim, shape, srcStrides, dstStrides (contiguous if not given)] for copyStrided. Adjacent
 * dimensions that both operands step over as one are merged and dimensions of extent 1 dropped,
 * so the kernel's runs are as long as the layouts allow: an NHWC → NCHW permute of [128, 5, 5, 64]
 * copies 8192 runs of 25 elements instead of 40,960 runs of 5, each run paying its index
 * arithmetic.
 */
export function stridedMeta(shape: readonly number[], srcStrides: readonly number[], dstStrides?: readonly number[]): Int32Array {
  dims.length = src.length = dst.length = 0;
  let step = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    const extent = shape[d]!,
      s = srcStrides[d] ?? 0,
      t = dstStrides ? dstStrides[d]! : step;
    step *= extent;
    if (extent === 1) continue;
    const inner = dims.length - 1;
    // Dimension d continues the one inside it when each operand's stride over d spans it exactly.
    if (inner >= 0 && dims[inner] !== 0 && extent !== 0 && s === src[inner]! * dims[inner]! && t === dst[inner]! * dims[inner]!) {
      dims[inner]! *= extent;
      continue;
    }
    dims.push(extent);
    src.push(s);
    dst.push(t);
  }
  if (dims.length === 0) {
    // Every extent is 1: one element.
    dims.push(1);
    src.push(0);
    dst.push(1);
  }
  const n = dims.length;
  if (n > 12) throw new RangeError(`copy of rank ${n} exceeds the kernels' limit of 12`);
  copyMeta[0] = n;
  for (let i = 0; i < n; i++) {
    // dims holds the innermost dimension first; the meta lists the outermost first.
    copyMeta[n - i] = dims[i]!;
    copyMeta[2 * n - i] = src[i]!;
    copyMeta[3 * n - i] = dst[i]!;
  }
  return copyMeta;
}
