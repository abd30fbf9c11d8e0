import { formatShape } from "../tensor/shape.js";

/** The broadcast of two shapes (NumPy rules), or an error naming the op and both shapes. */
export function broadcastShapes(a: readonly number[], b: readonly number[], op: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(`${op}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast (dimension ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

const MAX_DIMS = 12;
const scratch = new Int32Array(1 + MAX_DIMS * 5);

/**
 * Packs the iteration of `out` over broadcast operands for the native kernels:
 * [ndim, shape..., strides of each operand...], with size-1 axes dropped and adjacent axes
 * merged where every operand allows it. The returned array is reused by the next call.
 */
export function broadcastMeta(out: readonly number[], operands: readonly (readonly number[])[]): Int32Array {
  const k = operands.length;
  const rank = out.length;
  const strides: number[][] = operands.map((shape) => {
    const s = new Array<number>(rank).fill(0);
    let step = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      const d = rank - shape.length + i;
      s[d] = shape[i] === 1 ? 0 : step;
      step *= shape[i]!;
    }
    return s;
  });
  const dims: number[] = [];
  const kept: number[][] = operands.map(() => []);
  for (let d = 0; d < rank; d++) {
    if (out[d] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, j) => kept[j]![last] === s[d]! * out[d]!)) {
      dims[last] = dims[last]! * out[d]!;
      strides.forEach((s, j) => (kept[j]![last] = s[d]!));
    } else {
      dims.push(out[d]!);
      strides.forEach((s, j) => kept[j]!.push(s[d]!));
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    kept.forEach((s) => s.push(0));
  }
  if (dims.length > MAX_DIMS) throw new RangeError(`broadcast of rank ${dims.length} exceeds the kernels' limit of ${MAX_DIMS}`);
  const n = dims.length;
  scratch[0] = n;
  for (let d = 0; d < n; d++) scratch[1 + d] = dims[d]!;
  for (let j = 0; j < k; j++) for (let d = 0; d < n; d++) scratch[1 + n * (j + 1) + d] = kept[j]![d]!;
  return scratch;
}
