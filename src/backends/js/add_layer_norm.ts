/**
 * The residual add and the LayerNorm after it (native/add_layernorm.cc) in float64: the sum is
 * rounded into x's dtype as native stores it and normalised from those stored values by the
 * layerNorm oracle; backward adds the sum's own gradient to LayerNorm's input gradient and
 * rounds the total once into each summand's dtype.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { decode, DTYPE, encode } from "./dtype.js";
import { cNumber, optionalF32 } from "./kernel_args.js";
import { layerNorm, layerNormGradients, matrixNumel } from "./layer_norm.js";

/**
 * sum = x + r (in x's dtype), y = LayerNorm(sum) with layerNorm's mean and rstd.
 *
 * @example
 * addLayerNorm(0, x, 1, rBf16, weight, bias, sum, y, mean, rstd, rows, cols, 1e-5, 1);
 */
export const addLayerNorm: Kernels["addLayerNorm"] = (dtype, x, rDtype, r, weight, bias, sum, y, mean, rstd, rows, cols, eps, yDtype) => {
  const args = new Args("addLayerNorm");
  const dt = args.floatDtype("dtype", dtype);
  const rDt = args.floatDtype("rDtype", rDtype);
  const shape = matrixNumel(args, rows, cols);
  const e = args.number("eps", eps);
  args.require(e >= 0 && Number.isFinite(e), () => `eps must be a finite number >= 0, got ${cNumber(e)}`);
  args.sized("x", x, dt, shape.numel);
  args.sized("r", r, rDt, shape.numel);
  optionalF32(args, "weight", weight, shape.cols);
  optionalF32(args, "bias", bias, shape.cols);
  args.sized("sum", sum, dt, shape.numel);
  const yDt = args.floatDtype("yDtype", yDtype);
  args.sized("y", y, yDt, shape.numel);
  args.sized("mean", mean, DTYPE.float32, 2 * shape.rows);
  args.sized("rstd", rstd, DTYPE.float32, shape.rows);
  const rv = decode(rDt, r);
  encode(
    dt,
    decode(dt, x).map((v, i) => v + rv[i]!),
    sum,
  );
  layerNorm(dt, sum, weight, bias, y, mean, rstd, shape.rows, shape.cols, e, yDt);
};

/**
 * dx and dr = gradSum + LayerNorm's input gradient from gradY, each rounded into its dtype;
 * dweight and dbias as layerNormBackward's.
 *
 * @example
 * addLayerNormBackward(0, gradY, 0, gradSum, sum, weight, mean, rstd, dx, 1, dr, dweight, dbias, rows, cols);
 */
export const addLayerNormBackward: Kernels["addLayerNormBackward"] = (
  dtype,
  gradY,
  gradYDtype,
  gradSum,
  sum,
  weight,
  mean,
  rstd,
  dx,
  rDtype,
  dr,
  dweight,
  dbias,
  rows,
  cols,
) => {
  const args = new Args("addLayerNormBackward");
  const dt = args.floatDtype("dtype", dtype);
  const shape = matrixNumel(args, rows, cols);
  const gDt = args.floatDtype("gradYDtype", gradYDtype);
  args.sized("gradY", gradY, gDt, shape.numel);
  const hasSumGrad = gradSum !== null && gradSum !== undefined;
  if (hasSumGrad) args.sized("gradSum", gradSum, dt, shape.numel);
  args.sized("sum", sum, dt, shape.numel);
  const w = optionalF32(args, "weight", weight, shape.cols);
  args.sized("mean", mean, DTYPE.float32, 2 * shape.rows);
  args.sized("rstd", rstd, DTYPE.float32, shape.rows);
  if (dx !== null && dx !== undefined) args.sized("dx", dx, dt, shape.numel);
  const rDt = args.floatDtype("rDtype", rDtype);
  if (dr !== null && dr !== undefined) args.sized("dr", dr, rDt, shape.numel);
  const dw = optionalF32(args, "dweight", dweight, shape.cols);
  const db = optionalF32(args, "dbias", dbias, shape.cols);

  const wantDx = !!dx || !!dr;
  const grads = layerNormGradients(decode(gDt, gradY), decode(dt, sum), w, mean, rstd, shape.rows, shape.cols, wantDx);
  if (wantDx) {
    const total = grads.dx;
    if (hasSumGrad) {
      const gs = decode(dt, gradSum);
      for (let i = 0; i < total.length; i++) total[i]! += gs[i]!;
    }
    if (dx) encode(dt, total, dx);
    if (dr) encode(rDt, total, dr);
  }
  if (dw) dw.set(grads.dweight);
  if (db) db.set(grads.dbias);
};
