/**
 * Element-wise binary ops with broadcasting (native/binary.cc's table) for f32, bf16 and f16,
 * computed in float64 and stored with native's rounding: for +, −, ×, ÷ of float32 operands
 * the result is then exactly native's (float64 has more than twice float32's precision, so
 * rounding its exact result to float32 is correct rounding). Comparisons write 1 or 0.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { readBroadcast } from "./broadcast.js";
import { cPow } from "./c_math.js";
import { BINARY_OPS } from "./codes.js";
import { decode, encode } from "./dtype.js";

type Op = (a: number, b: number) => number;

const OPS: Record<(typeof BINARY_OPS)[number], Op> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: cPow,
  // NaN in a wins; NaN in b loses to a number only through the comparison, as in native.
  maximum: (a, b) => (a > b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a < b || Number.isNaN(a) ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
};

const BY_CODE = BINARY_OPS.map((name) => OPS[name]);

/**
 * out = a op b over meta = [ndim, shape..., aStrides..., bStrides...]; out may be a.
 *
 * @example
 * const out = new Float32Array(2);
 * binary(binaryCodes().add!, 0, Float32Array.of(1, 2), Float32Array.of(10), out, Int32Array.of(1, 2, 1, 0)); // [11, 12]
 */
export const binary: Kernels["binary"] = (code, dtype, a, b, out, meta) => {
  const args = new Args("binary");
  const f = args.lookup(BY_CODE, code, "binary op");
  const dt = args.floatDtype("dtype", dtype);
  const bc = readBroadcast(args, meta, [args.elements("a", a, dt), args.elements("b", b, dt)]);
  args.sized("out", out, dt, bc.numel);
  const va = decode(dt, a),
    vb = decode(dt, b);
  const [oa, ob] = bc.offsets as [Float64Array, Float64Array];
  const result = new Float64Array(bc.numel);
  for (let i = 0; i < bc.numel; i++) result[i] = f(va[oa[i]!]!, vb[ob[i]!]!);
  encode(dt, result, out);
};
