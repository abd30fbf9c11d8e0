/**
 * The fused Linear + bias + GELU kernels (native/matmul.cc's matmulGelu, native/gelu_bias.cc) in
 * float64: the product exactly as matmul's oracle computes it, rounded into c's dtype as native
 * stores it, GELU (erf) of that rounded once; and the backward pass's pre-activation gradient
 * with the bias gradient summed from it as stored.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { decode, encode } from "./dtype.js";
import { optionalF32 } from "./kernel_args.js";
import { checkedProduct, MATMUL_META } from "./matmul.js";
import { geluErf, geluErfGrad } from "./unary.js";

/**
 * c = GELU(p), p = op(a)·op(b) + bias rounded to dtypeC; preActivation, when given, receives p.
 *
 * @example
 * const c = new Float32Array(1);
 * matmulGelu(Float32Array.of(1), Float32Array.of(2), c, null, 0, 0, Int32Array.of(1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), null); // c ≈ [1.9545]
 */
export const matmulGelu: Kernels["matmulGelu"] = (a, b, c, bias, dtypeAB, dtypeC, meta, preActivation) => {
  const args = new Args("matmulGelu");
  const { values, dtypeC: tc } = checkedProduct(args, a, b, c, bias, dtypeAB, dtypeC, meta);
  args.require(meta[MATMUL_META.accumulate] === 0, () => "accumulate must be 0: GELU of a sum into c is not a product");
  const hasPre = preActivation !== null && preActivation !== undefined;
  if (hasPre) args.sized("preActivation", preActivation, tc, values.length);
  const stored = hasPre ? preActivation : c;
  encode(tc, values, stored);
  encode(tc, decode(tc, stored).map(geluErf), c);
};

/**
 * dPreActivation = grad·GELU'(preActivation); dbias (when not null) = its column sums as stored.
 *
 * @example
 * geluBiasBackward(0, grad, z, dz, dbias, rows, cols);
 */
export const geluBiasBackward: Kernels["geluBiasBackward"] = (dtype, grad, preActivation, dPreActivation, dbias, rows, cols) => {
  const args = new Args("geluBiasBackward");
  const dt = args.floatDtype("dtype", dtype);
  const r = args.integer("rows", rows),
    c = args.integer("cols", cols);
  const numel = args.numel([r, c]);
  args.sized("grad", grad, dt, numel);
  args.sized("preActivation", preActivation, dt, numel);
  args.sized("dPreActivation", dPreActivation, dt, numel);
  const db = optionalF32(args, "dbias", dbias, c);
  const g = decode(dt, grad),
    z = decode(dt, preActivation);
  encode(
    dt,
    g.map((v, i) => v * geluErfGrad(z[i]!)),
    dPreActivation,
  );
  if (!db) return;
  const stored = decode(dt, dPreActivation);
  const sums = new Float64Array(c);
  for (let i = 0; i < numel; i++) sums[i % c]! += stored[i]!;
  db.set(sums);
};
