/**
 * 1-bit compression's packing and unpacking (native/onebit.cc), as the plain loops whose
 * arithmetic the native kernels follow bit for bit.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";

/**
 * x = residual + values; scale = f32(√(Σx²/n)); bit i of signs = x_i ≥ 0; residual = x ∓ scale.
 *
 * @example
 * const residual = new Float32Array(2), signs = new Int32Array(1);
 * onebitPack(Float32Array.of(3, -4), residual, signs); // 3.5355339 (√12.5); signs [1], residual [-0.54, -0.46]
 */
export const onebitPack: Kernels["onebitPack"] = (values, residual, signs) => {
  const args = new Args("onebitPack"),
    n = values.length;
  args.require(residual.length === n, () => `residual holds ${residual.length} elements, values ${n}`);
  args.require(signs.length === Math.ceil(n / 32), () => `signs holds ${signs.length} words, expected ${Math.ceil(n / 32)}`);
  let squares = 0;
  for (let i = 0; i < n; i++) {
    const x = Math.fround(residual[i]! + values[i]!);
    squares += x * x;
  }
  const scale = n === 0 ? 0 : Math.fround(Math.sqrt(squares / n));
  signs.fill(0);
  for (let i = 0; i < n; i++) {
    const x = Math.fround(residual[i]! + values[i]!),
      positive = x >= 0;
    if (positive) signs[i >>> 5]! |= 1 << (i & 31);
    residual[i] = positive ? x - scale : x + scale;
  }
  return scale;
};

/**
 * values_i = Σ over ranks of ±scales[r], + where rank r's bit i is set (each rank's ⌈n/32⌉ words in turn).
 *
 * @example
 * const values = new Float32Array(2);
 * onebitUnpack(values, Int32Array.of(1, 3), Float64Array.of(0.5, 0.25)); // values [0.75, -0.25]
 */
export const onebitUnpack: Kernels["onebitUnpack"] = (values, signs, scales) => {
  const args = new Args("onebitUnpack"),
    n = values.length,
    words = Math.ceil(n / 32),
    ranks = words === 0 ? 0 : signs.length / words;
  args.require(Number.isInteger(ranks), () => `signs holds ${signs.length} words, not a multiple of ${words}`);
  args.require(scales.length >= ranks, () => `scales holds ${scales.length} entries for ${ranks} ranks`);
  values.fill(0);
  for (let r = 0; r < ranks; r++) {
    const s = scales[r]!,
      base = r * words;
    for (let i = 0; i < n; i++) values[i]! += (signs[base + (i >>> 5)]! >>> (i & 31)) & 1 ? s : -s;
  }
};
