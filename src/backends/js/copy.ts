/**
 * Copies that move bits, never values (NaN payloads and −0 pass through): the strided copy
 * behind expand, permute, slice and concat (native/copy.cc), and copyBytes, a memmove between
 * typed arrays (native/collective.cc).
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { readBroadcast } from "./broadcast.js";
import { words } from "./dtype.js";

/**
 * dst[dstOffset + Σ i·dstStride] = src[srcOffset + Σ i·srcStride] over meta = [ndim, shape...,
 * srcStrides..., dstStrides...].
 *
 * @example
 * const dst = new Float32Array(4); // the transpose of a 2 × 2 matrix
 * copyStrided(0, Float32Array.of(1, 2, 3, 4), 0, dst, 0, Int32Array.of(2, 2, 2, 1, 2, 2, 1)); // [1, 3, 2, 4]
 */
export const copyStrided: Kernels["copyStrided"] = (dtype, src, srcOffset, dst, dstOffset, meta) => {
  const args = new Args("copyStrided");
  const dt = args.dtype("dtype", dtype);
  const srcN = args.elements("src", src, dt),
    dstN = args.elements("dst", dst, dt);
  const so = args.integer("srcOffset", srcOffset),
    doff = args.integer("dstOffset", dstOffset);
  args.require(so >= 0 && so <= srcN && doff >= 0 && doff <= dstN, () => `offsets ${so} and ${doff} lie outside the arrays (${srcN} and ${dstN} elements)`);
  const bc = readBroadcast(args, meta, [srcN - so, dstN - doff]);
  if (bc.numel === 0) return;
  const m = meta as Int32Array;
  bc.shape.forEach((extent, d) =>
    args.require(extent <= 1 || m[1 + 2 * bc.shape.length + d]! > 0, () => `destination stride 0 in dimension ${d} would write one element twice`),
  );
  const from = words(src).slice(so),
    to = words(dst);
  const [srcAt, dstAt] = bc.offsets as [Float64Array, Float64Array];
  for (let i = 0; i < bc.numel; i++) to[doff + dstAt[i]!] = from[srcAt[i]!]!;
};

/**
 * memmove between two typed arrays of the same byte length (either may be over a
 * SharedArrayBuffer).
 *
 * @example
 * const dst = new Float32Array(2);
 * copyBytes(dst, Float32Array.of(1, 2)); // dst: [1, 2]
 */
export const copyBytes: Kernels["copyBytes"] = (dst, src) => {
  const args = new Args("copyBytes");
  const kinds = [Float32Array, Uint16Array, Int32Array, Uint8Array];
  for (const [name, array] of [
    ["dst", dst],
    ["src", src],
  ] as const) {
    args.require(ArrayBuffer.isView(array), () => `${name} must be a typed array`);
    args.require(
      kinds.some((kind) => array instanceof kind),
      () => `${name} must be a Float32Array, Uint16Array, Int32Array or Uint8Array`,
    );
  }
  args.require(dst.byteLength === src.byteLength, () => `dst holds ${dst.byteLength} bytes, src ${src.byteLength}`);
  new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
};
