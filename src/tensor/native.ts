/**
 * The native addon and the TypeScript signature of every kernel. Kernels take typed arrays and
 * shapes, write into outputs the caller allocated, and return nothing; they check every length
 * and index and throw an Error that starts with the kernel's name.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import type { TypedArray } from "./dtype.js";

export interface NativeKernels {
  /** Sets the OpenMP thread count of the calling thread (each worker thread has its own). */
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  unaryCodes(): { forward: Record<string, number>; backward: Record<string, number> };
  unary(code: number, dtype: number, x: TypedArray, out: TypedArray, alpha: number): void;
  unaryBackward(code: number, dtype: number, grad: TypedArray, saved: TypedArray, out: TypedArray, alpha: number): void;
  binaryCodes(): Record<string, number>;
  /** meta = [ndim, shape..., aStrides..., bStrides...] */
  binary(code: number, dtype: number, a: TypedArray, b: TypedArray, out: TypedArray, meta: Int32Array): void;
  /** meta = [batchA, batchB, M, N, K, transA, transB, accumulate] */
  matmul(
    a: TypedArray,
    b: TypedArray,
    c: TypedArray,
    bias: Float32Array | null,
    dtypeAB: number,
    dtypeC: number,
    meta: Int32Array,
  ): void;
  reduceCodes(): Record<"sum" | "mean" | "max" | "min", number>;
  /** Reduces x viewed as [outer, r, inner] over r into out [outer, inner]. */
  reduce(code: number, dtype: number, x: TypedArray, out: TypedArray, outer: number, r: number, inner: number): void;
  /**
   * dst[dstOffset + Σ i·dstStride] = src[srcOffset + Σ i·srcStride];
   * meta = [ndim, shape..., srcStrides..., dstStrides...]
   */
  copyStrided(dtype: number, src: TypedArray, srcOffset: number, dst: TypedArray, dstOffset: number, meta: Int32Array): void;
  cast(srcDtype: number, src: TypedArray, dstDtype: number, dst: TypedArray): void;
  /** Softmax (log = false) or log-softmax (log = true) of x viewed as [outer, r, inner], over r, into y. */
  softmax(dtype: number, x: TypedArray, y: TypedArray, outer: number, r: number, inner: number, log: boolean): void;
  /** Input gradient of softmax or log-softmax from the upstream grad and the saved output y. */
  softmaxBackward(dtype: number, grad: TypedArray, y: TypedArray, dx: TypedArray, outer: number, r: number, inner: number, log: boolean): void;
  /**
   * LayerNorm of x [rows, cols] over cols into y, with optional f32 weight and bias; writes each
   * row's 1/std into rstd [rows] and its mean into mean [rows, 2] as an f32 pair hi + lo.
   */
  layerNorm(
    dtype: number,
    x: TypedArray,
    weight: Float32Array | null,
    bias: Float32Array | null,
    y: TypedArray,
    mean: Float32Array,
    rstd: Float32Array,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  /** LayerNorm gradients; dx, dweight and dbias are written where not null (dweight, dbias summed over rows). */
  layerNormBackward(
    dtype: number,
    grad: TypedArray,
    x: TypedArray,
    weight: Float32Array | null,
    mean: Float32Array,
    rstd: Float32Array,
    dx: TypedArray | null,
    dweight: Float32Array | null,
    dbias: Float32Array | null,
    rows: number,
    cols: number,
  ): void;
  /**
   * Per-row cross-entropy of logits [n, c] against int32 targets [n] into losses (f32); where
   * grad [n, c] is not null, also the row gradients for a unit upstream gradient.
   */
  crossEntropy(
    dtype: number,
    logits: TypedArray,
    targets: Int32Array,
    losses: Float32Array,
    grad: TypedArray | null,
    n: number,
    c: number,
    ignoreIndex: number,
    smoothing: number,
  ): void;
}

function findAddon(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++) {
    const candidate = join(dir, "build", "Release", "turbine.node");
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(
    "turbine: the native addon build/Release/turbine.node is missing; build it with `npm run build` " +
      "(it needs Debian's libdnnl-dev and g++: see the README's set-up command)",
  );
}

/** The kernels of this thread's instance of the addon. */
export const native = createRequire(import.meta.url)(findAddon()) as NativeKernels;

/** Op codes the native kernels define, read once from the addon so they are never duplicated. */
export const codes = {
  unary: native.unaryCodes().forward,
  unaryBackward: native.unaryCodes().backward,
  binary: native.binaryCodes(),
  reduce: native.reduceCodes(),
};
