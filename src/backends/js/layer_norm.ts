/**
 * Layer normalisation over the last `cols` elements of each of `rows` rows, with optional f32
 * weight and bias, and its gradients, in plain TypeScript with native/layernorm.cc's contract:
 * forward writes each row's mean as an f32 pair (hi, lo: hi + lo is the float64 mean to about
 * 2^-48) and its 1/std, and backward reads them back. Everything sums in float64; the variance
 * is the second pass's mean of (x − mean)², never E[x²] − E[x]².
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { decode, DTYPE, encode } from "./dtype.js";
import { cNumber, optionalF32 } from "./kernel_args.js";

/** rows × cols, with the native addon's message for a count that cannot exist. @example matrixNumel(args, 2, 3).numel // 6 */
export function matrixNumel(args: Args, rows: unknown, cols: unknown): { rows: number; cols: number; numel: number } {
  const r = args.integer("rows", rows),
    c = args.integer("cols", cols);
  return { rows: r, cols: c, numel: args.numel([r, c]) };
}

/**
 * LayerNorm of x [rows, cols] over cols into y (of yDtype), with optional f32 weight and bias;
 * writes each row's 1/std into rstd [rows] and its mean into mean [rows, 2] as an f32 pair hi + lo.
 *
 * @example
 * const y = new Float32Array(2), mean = new Float32Array(2), rstd = new Float32Array(1);
 * layerNorm(0, Float32Array.of(1, 3), null, null, y, mean, rstd, 1, 2, 0, 0); // y = [-1, 1], mean = [2, 0], rstd = [1]
 */
export const layerNorm: Kernels["layerNorm"] = (dtype, x, weight, bias, y, mean, rstd, rows, cols, eps, yDtype) => {
  const args = new Args("layerNorm");
  const dt = args.floatDtype("dtype", dtype);
  const shape = matrixNumel(args, rows, cols);
  const e = args.number("eps", eps);
  args.require(e >= 0 && Number.isFinite(e), () => `eps must be a finite number >= 0, got ${cNumber(e)}`);
  args.sized("x", x, dt, shape.numel);
  const w = optionalF32(args, "weight", weight, shape.cols);
  const b = optionalF32(args, "bias", bias, shape.cols);
  const yDt = args.floatDtype("yDtype", yDtype);
  args.sized("y", y, yDt, shape.numel);
  args.sized("mean", mean, DTYPE.float32, 2 * shape.rows);
  args.sized("rstd", rstd, DTYPE.float32, shape.rows);

  const { cols: n } = shape;
  const xv = decode(dt, x),
    out = new Float64Array(shape.numel);
  for (let r = 0; r < shape.rows; r++) {
    const row = xv.subarray(r * n, (r + 1) * n);
    let sum = 0;
    for (const v of row) sum += v;
    const mu = sum / n;
    let squares = 0;
    for (const v of row) squares += (v - mu) * (v - mu);
    const inv = 1 / Math.sqrt(squares / n + e);
    const hi = Math.fround(mu);
    mean[2 * r] = hi;
    mean[2 * r + 1] = mu - hi;
    rstd[r] = inv;
    for (let j = 0; j < n; j++) out[r * n + j] = (row[j]! - mu) * inv * (w ? w[j]! : 1) + (b ? b[j]! : 0);
  }
  encode(yDt, out, y);
};

/**
 * LayerNorm gradients from grad (of gradDtype), the saved mean pair and rstd; dx, dweight and
 * dbias are overwritten where not null (dweight, dbias summed over rows). With x̂ = (x −
 * mean)·rstd and ĝ = grad·weight: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), dweight = Σ grad·x̂,
 * dbias = Σ grad.
 *
 * @example
 * layerNormBackward(0, grad, x, weight, mean, rstd, dx, dweight, dbias, rows, cols, 0);
 */
export const layerNormBackward: Kernels["layerNormBackward"] = (dtype, grad, x, weight, mean, rstd, dx, dweight, dbias, rows, cols, gradDtype) => {
  const args = new Args("layerNormBackward");
  const dt = args.floatDtype("dtype", dtype);
  const shape = matrixNumel(args, rows, cols);
  const gDt = args.floatDtype("gradDtype", gradDtype);
  args.sized("grad", grad, gDt, shape.numel);
  args.sized("x", x, dt, shape.numel);
  const w = optionalF32(args, "weight", weight, shape.cols);
  args.sized("mean", mean, DTYPE.float32, 2 * shape.rows);
  args.sized("rstd", rstd, DTYPE.float32, shape.rows);
  if (dx !== null && dx !== undefined) args.sized("dx", dx, dt, shape.numel);
  const dw = optionalF32(args, "dweight", dweight, shape.cols);
  const db = optionalF32(args, "dbias", dbias, shape.cols);

  const { dx: dxOut, dweight: dwSum, dbias: dbSum } = layerNormGradients(decode(gDt, grad), decode(dt, x), w, mean, rstd, shape.rows, shape.cols, !!dx);
  if (dx) encode(dt, dxOut, dx);
  if (dw) dw.set(dwSum);
  if (db) db.set(dbSum);
};

/**
 * LayerNorm's gradients in float64 from the upstream gradient g and the input xv (both decoded),
 * the saved mean pair and rstd: dx (empty unless wantDx), dweight and dbias (summed over rows).
 *
 * @example
 * const { dx } = layerNormGradients(g, xv, null, mean, rstd, rows, cols, true);
 */
export function layerNormGradients(
  g: Float64Array,
  xv: Float64Array,
  w: Float32Array | null,
  mean: Float32Array,
  rstd: Float32Array,
  rows: number,
  n: number,
  wantDx: boolean,
): { dx: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const dxOut = new Float64Array(wantDx ? rows * n : 0),
    dwSum = new Float64Array(n),
    dbSum = new Float64Array(n);
  const xhat = new Float64Array(n),
    ghat = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    const mu = mean[2 * r]! + mean[2 * r + 1]!,
      inv = rstd[r]!;
    let sumG = 0,
      sumGX = 0;
    for (let j = 0; j < n; j++) {
      const gj = g[r * n + j]!;
      xhat[j] = (xv[r * n + j]! - mu) * inv;
      ghat[j] = gj * (w ? w[j]! : 1);
      dwSum[j]! += gj * xhat[j]!;
      dbSum[j]! += gj;
      sumG += ghat[j]!;
      sumGX += ghat[j]! * xhat[j]!;
    }
    if (wantDx) for (let j = 0; j < n; j++) dxOut[r * n + j] = inv * (ghat[j]! - sumG / n - xhat[j]! * (sumGX / n));
  }
  return { dx: dxOut, dweight: dwSum, dbias: dbSum };
}
