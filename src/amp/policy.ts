/**
 * The autocast policy: one table, op name → what its floating inputs become inside an autocast
 * scope. It follows PyTorch's CPU autocast lists (torch/csrc/autograd/autocast_mode.cpp):
 *
 * - "low": the scope's dtype (bfloat16 or float16). Matrix products, convolutions and
 *   attention, whose kernels accumulate in float32 whatever their input dtype, so only the
 *   rounding of inputs and outputs changes; this is where the speed is.
 * - "f32": float32. Softmax, norms, losses and reductions, whose results lose accuracy when
 *   stored or summed in 8 (bf16) or 11 (f16) mantissa bits.
 * - "promote": the widest floating dtype among the inputs, so a bf16 branch added to a float32
 *   residual stream gives float32, as PyTorch's type promotion does.
 *
 * Ops not listed run in the dtype of their input: element-wise activations (GELU, ReLU),
 * dropout, pooling and views then stay in bfloat16 between two low-precision ops, with no
 * round trip through float32 (PyTorch does the same).
 */
export type CastPolicy = "low" | "f32" | "promote";

export const AUTOCAST_POLICY: Readonly<Record<string, CastPolicy>> = {
  matmul: "low",
  linear: "low",
  conv2d: "low",
  scaledDotProductAttention: "low",
  causalSelfAttention: "low",
  softmax: "f32",
  logSoftmax: "f32",
  layerNorm: "f32",
  crossEntropy: "f32",
  sum: "f32",
  mean: "f32",
  add: "promote",
  sub: "promote",
  mul: "promote",
  div: "promote",
  pow: "promote",
  maximum: "promote",
  minimum: "promote",
};

/** The dtypes an autocast scope may run its "low" ops in. */
export type LowPrecision = "bfloat16" | "float16";
