/**
 * Selection with three-operand broadcasting (native/where.cc): out = cond ? a : b, copying the
 * bits of the chosen value (any dtype). cond of any dtype is true where nonzero: a float is
 * true unless ±0 (NaN is true), an int32 unless 0.
 */
import type { Kernels } from "../kernels.js";
import { Args } from "./args.js";
import { readBroadcast } from "./broadcast.js";
import { DTYPE, words } from "./dtype.js";

/**
 * out = cond ? a : b over meta = [ndim, shape..., condStrides..., aStrides..., bStrides...].
 *
 * @example
 * const out = new Float32Array(2);
 * where(3, Int32Array.of(1, 0), 0, Float32Array.of(1, 2), Float32Array.of(9), out, Int32Array.of(1, 2, 1, 1, 0)); // [1, 9]
 */
export const where: Kernels["where"] = (condDtype, cond, dtype, a, b, out, meta) => {
  const args = new Args("where");
  const cdt = args.dtype("condDtype", condDtype);
  const condN = args.elements("cond", cond, cdt);
  const dt = args.dtype("dtype", dtype);
  const bc = readBroadcast(args, meta, [condN, args.elements("a", a, dt), args.elements("b", b, dt)]);
  args.sized("out", out, dt, bc.numel);
  // The bits that make a condition true: all of an int32, all but the sign of a float.
  const mask = cdt === DTYPE.int32 ? 0xffffffff : cdt === DTYPE.float32 ? 0x7fffffff : 0x7fff;
  const c = words(cond),
    wa = words(a),
    wb = words(b);
  const [oc, oa, ob] = bc.offsets as [Float64Array, Float64Array, Float64Array];
  const target = words(out);
  const result = target.slice(); // out may alias an operand: read every operand before writing
  for (let i = 0; i < bc.numel; i++) result[i] = (c[oc[i]!]! & mask) !== 0 ? wa[oa[i]!]! : wb[ob[i]!]!;
  target.set(result);
};
