/**
 * Strided views over an output's shape, given per operand by strides (stride 0 repeats an
 * element), with the checks of native/broadcast.h: rank 1..12, no negative extent or stride,
 * and no operand read past its end. binary, where and copyStrided are built on it.
 */
import type { Args } from "./args.js";

const MAX_DIMS = 12;

/** The shape and, per operand, the element offset of each output element in row-major order. */
export interface Broadcast {
  readonly shape: readonly number[];
  readonly numel: number;
  /** offsets[k][i]: where operand k's element for output element i lies. */
  readonly offsets: readonly Float64Array[];
}

/**
 * Reads meta = [ndim, shape..., strides of operand 0..., strides of operand 1..., ...] for
 * operands holding `operandCounts` elements.
 *
 * @example
 * // a [2, 3] output from a [3] row broadcast over rows and a [2, 3] operand:
 * readBroadcast(args, Int32Array.of(2, 2, 3, 0, 1, 3, 1), [3, 6]).offsets[0]; // [0, 1, 2, 0, 1, 2]
 */
export function readBroadcast(args: Args, meta: unknown, operandCounts: readonly number[]): Broadcast {
  const k = operandCounts.length;
  const ndim = args.ints("meta", meta, 1)[0]!;
  args.require(ndim >= 1 && ndim <= MAX_DIMS, () => `broadcast rank must be in 1..${MAX_DIMS}, got ${ndim}`);
  const m = args.ints("meta", meta, 1 + ndim * (k + 1));
  const shape = Array.from(m.subarray(1, 1 + ndim));
  shape.forEach((extent, d) => args.require(extent >= 0, () => `negative extent ${extent} in dimension ${d}`));
  const numel = shape.reduce((a, b) => a * b, 1);
  const strides = operandCounts.map((count, op) => {
    const s = Array.from(m.subarray(1 + ndim * (op + 1), 1 + ndim * (op + 2)));
    args.require(
      s.every((v) => v >= 0),
      () => `operand ${op} has a negative stride`,
    );
    const last = s.reduce((acc, stride, d) => acc + (shape[d]! > 0 ? (shape[d]! - 1) * stride : 0), 0);
    args.require(numel === 0 || last < count, () => `operand ${op} is read up to element ${last} but holds ${count} elements`);
    return s;
  });
  return { shape, numel, offsets: strides.map((s) => offsetsOf(shape, s, numel)) };
}

/** Σ index[d]·strides[d] for each row-major index of `shape`. */
function offsetsOf(shape: readonly number[], strides: readonly number[], numel: number): Float64Array {
  const out = new Float64Array(numel);
  const index = new Array<number>(shape.length).fill(0);
  let offset = 0;
  for (let i = 0; i < numel; i++) {
    out[i] = offset;
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d]!++;
      offset += strides[d]!;
      if (index[d]! < shape[d]!) break;
      offset -= index[d]! * strides[d]!;
      index[d] = 0;
    }
  }
  return out;
}
