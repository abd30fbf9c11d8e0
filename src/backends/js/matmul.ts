/**
 * Batched matmul in plain TypeScript, as native/matmul.cc's oneDNN primitive computes it:
 * C[b] (+)= op(A[b])·op(B[b]) (+ bias), an operand transposed through its layout (A stored
 * [K, M] when transA, B stored [N, K] when transB), a batch of 1 broadcast against the other.
 * Products are summed in float64 and the result rounded once into C's dtype.
 */
import type { TypedArray } from "../dtype.js";
import type { Kernels } from "../kernels.js";
import type { MatmulMetaField } from "../meta.js";
import { Args } from "./args.js";
import { decode, DTYPE, encode } from "./dtype.js";
import { readMeta } from "./kernel_args.js";

/**
 * Field indices of matmul's meta; the addon's (native/meta_fields.h), as
 * test/backends/js/meta_fields.test.ts checks.
 *
 * @example
 * meta[MATMUL_META.transB]; // nonzero: B is stored [N, K]
 */
export const MATMUL_META = {
  batchA: 0,
  batchB: 1,
  m: 2,
  n: 3,
  k: 4,
  transA: 5,
  transB: 6,
  accumulate: 7,
  runtimeM: 8,
  runtimeN: 9,
  runtimeK: 10,
  padA: 11,
  padB: 12,
} as const satisfies Record<MatmulMetaField, number>;

/**
 * c = a·b (+ bias, broadcast over rows) (+ c when accumulating); meta = [batchA, batchB, M, N,
 * K, transA, transB, accumulate, runtimeM, runtimeN, runtimeK, padA, padB] (the runtime and pad
 * flags change nothing here: they let native share one primitive, or lay an operand out anew). a and b are of dtypeAB, c of dtypeC,
 * bias f32 [N]. Any float dtypes: native's oneDNN takes f32·f32 → f32 and bf16·bf16 → f32 or bf16 (ops send f16 through
 * f32), and this oracle computes the other pairs too.
 *
 * @example
 * const c = new Float32Array(1);
 * matmul(Float32Array.of(1, 2), Float32Array.of(3, 4), c, null, 0, 0, Int32Array.of(1, 1, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0)); // c = [11]
 */
export const matmul: Kernels["matmul"] = (a, b, c, bias, dtypeAB, dtypeC, meta) => {
  const { values, dtypeC: tc } = checkedProduct(new Args("matmul"), a, b, c, bias, dtypeAB, dtypeC, meta);
  encode(tc, values, c);
};

/**
 * The checks of a matmul-shaped call (`args` names the kernel) and its exact result in float64:
 * a·b (+ bias) (+ c when accumulating), before the rounding into c.
 *
 * @example
 * const { values } = checkedProduct(new Args("matmulGelu"), a, b, c, null, 0, 0, meta);
 */
export function checkedProduct(
  args: Args,
  a: TypedArray,
  b: TypedArray,
  c: TypedArray,
  bias: Float32Array | null,
  dtypeAB: number,
  dtypeC: number,
  meta: Int32Array,
): { values: Float64Array; dtypeC: number } {
  const tab = args.floatDtype("dtypeAB", dtypeAB);
  const tc = args.floatDtype("dtypeC", dtypeC);
  const { batchA, batchB, m, n, k, ...flags } = readMeta(args, meta, MATMUL_META);
  const transA = flags.transA !== 0,
    transB = flags.transB !== 0,
    accumulate = flags.accumulate !== 0;
  args.require(
    batchA >= 1 && batchB >= 1 && m >= 1 && n >= 1 && k >= 1,
    () => `batch, M, N and K must be positive, got batch ${batchA}/${batchB}, M ${m}, N ${n}, K ${k}`,
  );
  args.require(batchA === batchB || batchA === 1 || batchB === 1, () => `batch sizes ${batchA} and ${batchB} do not broadcast`);
  const batch = Math.max(batchA, batchB);
  args.sized("a", a, tab, batchA * m * k);
  args.sized("b", b, tab, batchB * k * n);
  args.sized("c", c, tc, batch * m * n);
  if (bias !== null && bias !== undefined) args.sized("bias", bias, DTYPE.float32, n);

  const av = decode(tab, a),
    bv = decode(tab, b);
  const out = accumulate ? decode(tc, c) : new Float64Array(batch * m * n);
  for (let p = 0; p < batch; p++) {
    const aBase = (batchA === 1 ? 0 : p) * m * k,
      bBase = (batchB === 1 ? 0 : p) * k * n,
      cBase = p * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = bias ? bias[j]! : 0;
        for (let q = 0; q < k; q++) {
          sum += av[aBase + (transA ? q * m + i : i * k + q)]! * bv[bBase + (transB ? j * k + q : q * n + j)]!;
        }
        out[cBase + i * n + j]! += sum;
      }
    }
  }
  return { values: out, dtypeC: tc };
}
