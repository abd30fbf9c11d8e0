/**
 * The kernel interface every backend implements: kernels take typed arrays and shapes, write
 * into outputs the caller allocated, and return nothing; they check every length and index and
 * throw an Error that starts with the kernel's name. `native` (the C++ addon) and `js` (plain
 * TypeScript, float64 accumulation: the oracle) implement all of it; a backend may leave kernels
 * out, and calling one of those fails with the kernel's and the backend's names.
 */
import type { TypedArray } from "./dtype.js";
import type { MetaFields } from "./meta.js";

export interface Kernels {
  /** Sets the OpenMP thread count of the calling thread (each worker thread has its own). */
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  /** The CPU the calling thread runs on (-1 where the system does not say). */
  currentCpu(): number;
  /** Lets the calling thread run on every CPU of the process but `cpu`; false (nothing changed) where that leaves none or the system has no affinity. */
  keepOffCpu(cpu: number): boolean;
  /** Bytes from the buffer's start to its first 64-byte-aligned address. */
  alignmentOffset(buffer: ArrayBuffer): number;
  /** The field layouts of the packed metas (conv2d, pooling, matmul). */
  metaFields(): MetaFields;
  unaryCodes(): { forward: Record<string, number>; backward: Record<string, number> };
  unary(code: number, dtype: number, x: TypedArray, out: TypedArray, alpha: number): void;
  unaryBackward(code: number, dtype: number, grad: TypedArray, saved: TypedArray, out: TypedArray, alpha: number): void;
  binaryCodes(): Record<string, number>;
  /** meta = [ndim, shape..., aStrides..., bStrides...] */
  binary(code: number, dtype: number, a: TypedArray, b: TypedArray, out: TypedArray, meta: Int32Array): void;
  /** meta as metaFields().matmul: [batchA, batchB, M, N, K, transA, transB, accumulate, runtimeM, runtimeN, runtimeK, padA, padB] */
  matmul(a: TypedArray, b: TypedArray, c: TypedArray, bias: Float32Array | null, dtypeAB: number, dtypeC: number, meta: Int32Array): void;
  /**
   * c = GELU(op(a)·op(b) + bias), GELU with erf as the unary kernel's (the same bits), meta as
   * matmul's (accumulate 0). preActivation (dtypeC, c's size), when given, receives the product
   * before GELU (what backward needs).
   */
  matmulGelu(
    a: TypedArray,
    b: TypedArray,
    c: TypedArray,
    bias: Float32Array | null,
    dtypeAB: number,
    dtypeC: number,
    meta: Int32Array,
    preActivation: TypedArray | null,
  ): void;
  /**
   * dPreActivation = grad·GELU'(preActivation) for [rows, cols] of dtype, and where dbias (f32
   * [cols]) is not null, its column sums: the bias gradient of matmulGelu, in the same pass.
   */
  geluBiasBackward(
    dtype: number,
    grad: TypedArray,
    preActivation: TypedArray,
    dPreActivation: TypedArray,
    dbias: Float32Array | null,
    rows: number,
    cols: number,
  ): void;
  reduceCodes(): Record<"sum" | "mean" | "max" | "min", number>;
  /** Reduces x viewed as [outer, r, inner] over r into out [outer, inner]. */
  /** out in outDtype: x's dtype, or float32. */
  reduce(code: number, dtype: number, x: TypedArray, out: TypedArray, outer: number, r: number, inner: number, outDtype: number): void;
  /**
   * dst[dstOffset + Σ i·dstStride] = src[srcOffset + Σ i·srcStride];
   * meta = [ndim, shape..., srcStrides..., dstStrides...]
   */
  copyStrided(dtype: number, src: TypedArray, srcOffset: number, dst: TypedArray, dstOffset: number, meta: Int32Array): void;
  /** Fused Adam/AdamW, also writing paramBf16 (a bf16 copy of the result) when given; hyper = [lr, beta1, beta2, eps, weightDecay, step, decoupled]. */
  adamStep(param: Float32Array, grad: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array, paramBf16: Uint16Array | null, hyper: Float64Array): void;
  /**
   * adamStep over every parameter of the lists in one call (paramsBf16's entries may be null),
   * bitwise the same as one adamStep per parameter; hyper holds one row of adamStep's 7 values per parameter.
   */
  adamStepMulti(
    params: Float32Array[],
    grads: Float32Array[],
    expAvgs: Float32Array[],
    expAvgSqs: Float32Array[],
    paramsBf16: (Uint16Array | null)[],
    hyper: Float64Array,
  ): void;
  /**
   * Lion over every parameter of the lists: p ← p·(1 − lr·wd) − lr·sign(β1·m + (1 − β1)·g), then
   * m ← β2·m + (1 − β2)·g, in float64 from the stored values; hyper = one row [lr, beta1, beta2, weightDecay] per parameter.
   */
  lionStepMulti(params: Float32Array[], grads: Float32Array[], expAvgs: Float32Array[], hyper: Float64Array): void;
  /**
   * LAMB over every parameter of the lists: the moments advanced, u = m̂ / (√v̂ + eps) + wd·w,
   * then w ← w − lr·(‖w‖ / ‖u‖)·u (ratio 1 when either norm is 0), in float64 from the stored
   * values; hyper = one row [lr, beta1, beta2, eps, weightDecay, step] per parameter.
   */
  lambStepMulti(params: Float32Array[], grads: Float32Array[], expAvgs: Float32Array[], expAvgSqs: Float32Array[], hyper: Float64Array): void;
  /** Fused SGD; hyper = [lr, momentum, dampening, weightDecay, nesterov, firstStep]. */
  sgdStep(param: Float32Array, grad: Float32Array, momentumBuffer: Float32Array | null, hyper: Float64Array): void;
  /** Σ x², accumulated in double. */
  sumOfSquares(dtype: number, x: TypedArray): number;
  /**
   * 1-bit compression with error feedback: x = residual + values; returns scale = f32(√(Σx²/n));
   * signs (⌈n/32⌉ words) gets bit i = x_i ≥ 0 and residual becomes x ∓ scale.
   */
  onebitPack(values: Float32Array, residual: Float32Array, signs: Int32Array): number;
  /** values_i = Σ over ranks r of ±scales[r] (+ where bit i of rank r's ⌈n/32⌉ words in signs is set). */
  onebitUnpack(values: Float32Array, signs: Int32Array, scales: Float64Array): void;
  clampInPlace(dtype: number, x: TypedArray, low: number, high: number): void;
  /** x *= invScale in place; returns whether x held an inf or NaN before (GradScaler's unscale). */
  unscaleAndCheck(dtype: number, x: TypedArray, invScale: number): boolean;
  cast(srcDtype: number, src: TypedArray, dstDtype: number, dst: TypedArray): void;
  /**
   * out = cond ? a : b, copying bits (any value dtype); cond of any dtype is true where nonzero.
   * meta = [ndim, shape..., condStrides..., aStrides..., bStrides...]
   */
  where(condDtype: number, cond: TypedArray, dtype: number, a: TypedArray, b: TypedArray, out: TypedArray, meta: Int32Array): void;
  /** out[i, :] = weight[indices[i], :] for weight [rows, cols]; throws on an index outside [0, rows). */
  embedding(dtype: number, weight: TypedArray, rows: number, cols: number, indices: Int32Array, out: TypedArray): void;
  /** gradWeight = 0, then gradWeight[indices[i], :] += grad[i, :]; throws on an index outside [0, rows). */
  embeddingBackward(dtype: number, gradWeight: TypedArray, rows: number, cols: number, indices: Int32Array, grad: TypedArray): void;
  /**
   * out[indices[s], :] += gates[s]·rows[s, :] for rows [count, cols] of dtype, into a float32 out
   * [tableRows, cols] (gates float32, null for 1); a row's additions in slot order. A mixture of
   * experts' combine, and its dispatch's backward.
   */
  rowsScatterAdd(dtype: number, out: Float32Array, tableRows: number, cols: number, indices: Int32Array, rows: TypedArray, gates: Float32Array | null): void;
  /**
   * gradRows[s, :] = gates[s]·grad[indices[s], :] (grad [tableRows, cols], dtype); with rows,
   * gradGates[s] = rows[s, :]·grad[indices[s], :] (float32). The combine's backward.
   */
  rowsGatherScaled(
    dtype: number,
    grad: TypedArray,
    tableRows: number,
    cols: number,
    indices: Int32Array,
    gates: Float32Array,
    gradRows: TypedArray,
    rows: TypedArray | null,
    gradGates: Float32Array | null,
  ): void;
  /** out = low + (high − low)·u, u uniform in [0, 1), from Philox blocks offset… keyed by seed (4 draws a block). */
  randomUniform(dtype: number, out: TypedArray, seed: number, offset: number, low: number, high: number): void;
  /** out = mean + std·z, z standard normal by Box–Muller, from Philox blocks offset… keyed by seed. */
  randomNormal(dtype: number, out: TypedArray, seed: number, offset: number, mean: number, std: number): void;
  /** out = integers uniform in [low, high), from Philox blocks offset… keyed by seed. */
  randomInt(out: Int32Array, seed: number, offset: number, low: number, high: number): void;
  /** out = x·mask/(1 − p), the mask regenerated from (seed, offset): forward and backward alike. */
  dropout(dtype: number, x: TypedArray, out: TypedArray, seed: number, offset: number, p: number): void;
  /**
   * y = conv2d(x, w) + bias (f32, bf16 or f16 x/w/y, f32 bias; native: oneDNN, f16 through f32); meta packed as
   * metaFields().conv2d (layout 0 = NCHW activations, 1 = NHWC).
   */
  conv2d(x: TypedArray, w: TypedArray, bias: Float32Array | null, y: TypedArray, dtype: number, meta: Int32Array): void;
  /**
   * Whether conv2dMaxPool takes the convolution of meta with operands of dtype: the backend's
   * choice of the fused op (native and js: f32 NHWC, no groups, ≤ 4 input channels, 16·k ≤ 64
   * outputs, output ≥ 2×2).
   */
  conv2dDirectFits(dtype: number, meta: Int32Array): boolean;
  /** pooled = max_pool2d(conv2d(x, w) + bias, 2) in NHWC f32, and each maximum's window position 0..3 into codes; meta as conv2d's. */
  conv2dMaxPool(x: Float32Array, w: Float32Array, bias: Float32Array | null, pooled: Float32Array, codes: Int32Array | null, meta: Int32Array): void;
  /** dw and dbias of conv2dMaxPool from x, the pooled output's gradient and the forward's codes. */
  conv2dMaxPoolBackwardWeights(x: Float32Array, dpooled: Float32Array, codes: Int32Array, dw: Float32Array, dbias: Float32Array | null, meta: Int32Array): void;
  /** dx = the input gradient of conv2d from dy; meta as conv2d's. */
  conv2dBackwardData(dy: TypedArray, w: TypedArray, dx: TypedArray, dtype: number, meta: Int32Array): void;
  /** dw (f32, or the operands' dtype) and the f32 bias gradient of conv2d; meta as conv2d's. */
  conv2dBackwardWeights(x: TypedArray, dy: TypedArray, dw: TypedArray, dbias: Float32Array | null, dtype: number, dwDtype: number, meta: Int32Array): void;
  /** conv2d's result through patch copies and matrix products: float32, NHWC and ungrouped only (src/ops/conv.ts measures which is faster). */
  conv2dGemm(x: TypedArray, w: TypedArray, bias: Float32Array | null, y: TypedArray, dtype: number, meta: Int32Array): void;
  /** conv2dBackwardWeights' result through patch copies and matrix products: float32, NHWC and ungrouped only (src/ops/conv.ts measures which is faster). */
  conv2dBackwardWeightsGemm(x: TypedArray, dy: TypedArray, dw: TypedArray, dbias: Float32Array | null, dtype: number, dwDtype: number, meta: Int32Array): void;
  /**
   * Max pooling; indices (when given) get each output's flat argmax within its input plane.
   * meta packed as metaFields().pool2d (layout 0 = NCHW, 1 = NHWC).
   */
  maxPool2d(dtype: number, x: TypedArray, y: TypedArray, indices: Int32Array | null, meta: Int32Array): void;
  /** dx = dy scattered to the argmax indices; meta as maxPool2d's. */
  maxPool2dBackward(dtype: number, dy: TypedArray, indices: Int32Array, dx: TypedArray, meta: Int32Array): void;
  /** Average pooling; meta as maxPool2d's with dilation [1, 1]. */
  avgPool2d(dtype: number, x: TypedArray, y: TypedArray, meta: Int32Array, countIncludePad: boolean): void;
  /** dx = the input gradient of avgPool2d from dy. */
  avgPool2dBackward(dtype: number, dy: TypedArray, dx: TypedArray, meta: Int32Array, countIncludePad: boolean): void;
  /** Softmax (log = false) or log-softmax (log = true) of x viewed as [outer, r, inner], over r, into y. */
  softmax(dtype: number, x: TypedArray, y: TypedArray, outer: number, r: number, inner: number, log: boolean): void;
  /** Input gradient of softmax or log-softmax from the upstream grad and the saved output y. */
  softmaxBackward(dtype: number, grad: TypedArray, y: TypedArray, dx: TypedArray, outer: number, r: number, inner: number, log: boolean): void;
  /**
   * LayerNorm of x [rows, cols] over cols into y (of yDtype), with optional f32 weight and bias;
   * writes each row's 1/std into rstd [rows] and its mean into mean [rows, 2] as an f32 pair hi + lo.
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
    yDtype: number,
  ): void;
  /** LayerNorm gradients from grad (of gradDtype); dx, dweight and dbias are written where not null (dweight, dbias summed over rows). */
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
    gradDtype: number,
  ): void;
  /**
   * sum = x + r (x's dtype; r of rDtype), then y = LayerNorm(sum) as layerNorm computes it (mean
   * and rstd likewise): the residual add and the norm after it in one pass over the rows.
   */
  addLayerNorm(
    dtype: number,
    x: TypedArray,
    rDtype: number,
    r: TypedArray,
    weight: Float32Array | null,
    bias: Float32Array | null,
    sum: TypedArray,
    y: TypedArray,
    mean: Float32Array,
    rstd: Float32Array,
    rows: number,
    cols: number,
    eps: number,
    yDtype: number,
  ): void;
  /**
   * addLayerNorm's gradients: dx (dtype) and dr (rDtype), where not null, both get gradSum (the
   * sum's own gradient, dtype; null: none) plus LayerNorm's input gradient from gradY (of
   * gradYDtype); dweight and dbias as layerNormBackward's.
   */
  addLayerNormBackward(
    dtype: number,
    gradY: TypedArray,
    gradYDtype: number,
    gradSum: TypedArray | null,
    sum: TypedArray,
    weight: Float32Array | null,
    mean: Float32Array,
    rstd: Float32Array,
    dx: TypedArray | null,
    rDtype: number,
    dr: TypedArray | null,
    dweight: Float32Array | null,
    dbias: Float32Array | null,
    rows: number,
    cols: number,
  ): void;
  /**
   * Fused softmax(scale·q·kᵀ, causal-masked when causal)·v over b × h heads of t rows of d into
   * out, in blocks of `block` rows; writes each query row's f32 log-sum-exp into lse [b·h, t] when
   * not null. layout (Int32Array(16)) holds [offset, batch, head, time] element strides of q, k, v
   * and out in turn; rows of d are contiguous. q, k, v may be one array.
   */
  attention(
    dtype: number,
    q: TypedArray,
    k: TypedArray,
    v: TypedArray,
    out: TypedArray,
    lse: Float32Array | null,
    b: number,
    h: number,
    t: number,
    d: number,
    layout: Int32Array,
    scale: number,
    causal: boolean,
    block: number,
  ): void;
  /**
   * Gradients of attention from grad, the saved out and lse; dq, dk and dv are written where not
   * null. grad takes out's layout, dq, dk and dv those of q, k and v (and may be one array).
   */
  attentionBackward(
    dtype: number,
    q: TypedArray,
    k: TypedArray,
    v: TypedArray,
    out: TypedArray,
    lse: Float32Array,
    grad: TypedArray,
    dq: TypedArray | null,
    dk: TypedArray | null,
    dv: TypedArray | null,
    b: number,
    h: number,
    t: number,
    d: number,
    layout: Int32Array,
    scale: number,
    causal: boolean,
    block: number,
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
  collectiveCodes(): Record<"sum" | "max", number>;
  /** Every dsts[j] = scale · (srcs[0] op srcs[1] op ...), element-wise in source order; dsts may be srcs (shared-memory collectives). */
  collectiveReduce(dtype: number, op: number, dsts: TypedArray[], srcs: TypedArray[], scale: number): void;
  /** memmove between two typed arrays of the same byte length (SharedArrayBuffer-backed too). */
  copyBytes(dst: TypedArray | Uint8Array, src: TypedArray | Uint8Array): void;
}

/** The name of one kernel. */
export type KernelName = keyof Kernels;

// Exhaustive by type: a kernel added to the interface but not here (or named here and not there)
// does not compile.
const KERNEL_SET: Record<KernelName, true> = {
  setNumThreads: true,
  getNumThreads: true,
  currentCpu: true,
  keepOffCpu: true,
  alignmentOffset: true,
  metaFields: true,
  unaryCodes: true,
  unary: true,
  unaryBackward: true,
  binaryCodes: true,
  binary: true,
  matmul: true,
  matmulGelu: true,
  geluBiasBackward: true,
  reduceCodes: true,
  reduce: true,
  copyStrided: true,
  adamStep: true,
  adamStepMulti: true,
  lionStepMulti: true,
  lambStepMulti: true,
  sgdStep: true,
  sumOfSquares: true,
  onebitPack: true,
  onebitUnpack: true,
  clampInPlace: true,
  unscaleAndCheck: true,
  cast: true,
  where: true,
  embedding: true,
  embeddingBackward: true,
  rowsScatterAdd: true,
  rowsGatherScaled: true,
  randomUniform: true,
  randomNormal: true,
  randomInt: true,
  dropout: true,
  conv2d: true,
  conv2dDirectFits: true,
  conv2dMaxPool: true,
  conv2dMaxPoolBackwardWeights: true,
  conv2dBackwardData: true,
  conv2dBackwardWeights: true,
  conv2dBackwardWeightsGemm: true,
  conv2dGemm: true,
  maxPool2d: true,
  maxPool2dBackward: true,
  avgPool2d: true,
  avgPool2dBackward: true,
  softmax: true,
  softmaxBackward: true,
  layerNorm: true,
  layerNormBackward: true,
  addLayerNorm: true,
  addLayerNormBackward: true,
  attention: true,
  attentionBackward: true,
  crossEntropy: true,
  collectiveCodes: true,
  collectiveReduce: true,
  copyBytes: true,
};

/** Every kernel of the interface, by name. */
export const KERNEL_NAMES: readonly KernelName[] = Object.keys(KERNEL_SET) as KernelName[];
