/**
 * The op table: every op autograd records, by name, with its forward and backward rules (its
 * OpDefs: an op whose variants differ in rules, such as cast between floats and to int32, has
 * several), its autocast rule and the kernels those rules call. `OpName` is the union of its
 * keys, so the autocast policy and the profiler's op names are checked by the compiler, and a
 * test checks that each key is its OpDefs' name and that every op has a PyTorch fixture or a
 * gradcheck.
 *
 * Autocast rules (PyTorch's CPU autocast lists, torch/csrc/autograd/autocast_mode.cpp):
 * - "low": the scope's dtype (bfloat16 or float16). Matrix products, convolutions and
 *   attention, whose kernels accumulate in float32 whatever their input dtype, so only the
 *   rounding of inputs and outputs changes; this is where the speed is.
 * - "f32": float32. Softmax, norms, losses and reductions, whose results lose accuracy when
 *   stored or summed in 8 (bf16) or 11 (f16) mantissa bits.
 * - "promote": the widest floating dtype among the inputs, so a bf16 branch added to a float32
 *   residual stream gives float32, as PyTorch's type promotion does.
 * Ops without a rule run in the dtype of their input: element-wise activations (GELU, ReLU),
 * dropout, pooling and views then stay in bfloat16 between two low-precision ops, with no
 * round trip through float32 (PyTorch does the same).
 *
 * apply() (src/autograd/op.ts) casts every op's inputs by its rule before the forward rule
 * runs, so an op's function only checks shapes and attributes; checks on dtypes belong in the
 * forward rule, which sees the cast inputs.
 */
import type { KernelName } from "../backends/index.js";
import { checkpointOp } from "../autograd/checkpoint.js";
import type { OpDef } from "../autograd/op.js";
import { addLayerNormOp } from "./add_layer_norm.js";
import { causalSelfAttentionOp, scaledDotProductAttentionOp } from "./attention.js";
import type { CastPolicy } from "./autocast_hook.js";
import { binaryOps } from "./binary.js";
import { floatCastOp, intCastOp } from "./cast.js";
import { convOp } from "./conv.js";
import { convMaxPoolOp } from "./conv_pool.js";
import { dropoutOp, passThroughOp } from "./dropout.js";
import { embeddingOp } from "./embedding.js";
import { concatOp, permuteOp, sliceOp, splitOp } from "./layout.js";
import { crossEntropyOp } from "./loss.js";
import { linearGeluOp } from "./linear_gelu.js";
import { linearOp, matmulOp } from "./matmul.js";
import { layerNormOp } from "./norm.js";
import { avgPoolOp, maxPoolOp } from "./pool.js";
import { reduceOps } from "./reduce.js";
import { whereOp } from "./select.js";
import { logSoftmaxOp, softmaxOp } from "./softmax.js";
import { unaryOps } from "./unary.js";
import { expandOp, reshapeOp } from "./view.js";

/** One op of the table. */
export interface OpEntry {
  /** The forward and backward rules recorded under this op's name. */
  readonly defs: readonly OpDef<any>[];
  /** What the op's floating inputs become inside an autocast scope; absent: their own dtype. */
  readonly autocast?: CastPolicy;
  /** How many leading inputs the rule casts (default all): a bias or a norm's affine parameters stay float32. */
  readonly autocastInputs?: number;
  /** The kernels its rules call themselves (rules that call other ops use those ops' kernels). */
  readonly kernels: readonly KernelName[];
}

const UNARY: readonly KernelName[] = ["unary", "unaryBackward"];
const BINARY: readonly KernelName[] = ["binary"];
const REDUCE: readonly KernelName[] = ["reduce"];
const COPY: readonly KernelName[] = ["copyStrided"];
const u = (def: OpDef<any>): OpEntry => ({ defs: [def], kernels: UNARY });
const b = (def: OpDef<any>): OpEntry => ({ defs: [def], autocast: "promote", kernels: BINARY });

// biome-ignore format: one line per kind of op
/**
 * Every op's name in the table. Written out, not taken from the table's keys, because each
 * OpDef's name is typed by it; the table below must have exactly these keys (the compiler checks).
 * @example OP_NAMES.includes("sum") // true
 */
export const OP_NAMES = [
  "neg", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "gelu_tanh", "gelu_erf", "abs", "square", "reciprocal", "powScalar", "clamp_min", "scale", "shift",
  "add", "sub", "mul", "div", "pow", "maximum", "minimum",
  "sum", "mean", "max", "min",
  "reshape", "expand", "permute", "slice", "concat", "split",
  "matmul", "linear", "linearGelu", "where", "embedding", "cast", "dropout",
  "conv2d", "conv2dMaxPool", "max_pool2d", "avg_pool2d",
  "softmax", "logSoftmax", "layerNorm", "addLayerNorm", "crossEntropy", "scaledDotProductAttention", "causalSelfAttention", "checkpoint",
] as const;

/** The name of an op of the table. @example const op: TableOpName = "matmul"; */
export type TableOpName = (typeof OP_NAMES)[number];

const TABLE: Readonly<Record<TableOpName, OpEntry>> = {
  neg: { defs: [unaryOps.neg], kernels: ["unary"] },
  exp: u(unaryOps.exp),
  log: u(unaryOps.log),
  sqrt: u(unaryOps.sqrt),
  rsqrt: u(unaryOps.rsqrt),
  tanh: u(unaryOps.tanh),
  sigmoid: u(unaryOps.sigmoid),
  relu: u(unaryOps.relu),
  gelu_tanh: u(unaryOps.gelu_tanh),
  gelu_erf: u(unaryOps.gelu_erf),
  abs: u(unaryOps.abs),
  square: u(unaryOps.square),
  reciprocal: u(unaryOps.reciprocal),
  powScalar: u(unaryOps.pow),
  clamp_min: u(unaryOps.clamp_min),
  scale: { defs: [unaryOps.scale], kernels: ["unary"] },
  shift: { defs: [unaryOps.shift], kernels: ["unary"] },
  add: b(binaryOps.add),
  sub: b(binaryOps.sub),
  mul: b(binaryOps.mul),
  div: b(binaryOps.div),
  pow: b(binaryOps.pow),
  maximum: b(binaryOps.maximum),
  minimum: b(binaryOps.minimum),
  sum: { defs: [reduceOps.sum], autocast: "f32", kernels: REDUCE },
  mean: { defs: [reduceOps.mean], autocast: "f32", kernels: REDUCE },
  max: { defs: [reduceOps.max], kernels: REDUCE },
  min: { defs: [reduceOps.min], kernels: REDUCE },
  reshape: { defs: [reshapeOp], kernels: [] },
  expand: { defs: [expandOp], kernels: COPY },
  permute: { defs: [permuteOp], kernels: COPY },
  slice: { defs: [sliceOp], kernels: COPY },
  concat: { defs: [concatOp], kernels: COPY },
  split: { defs: [splitOp], kernels: COPY },
  matmul: { defs: [matmulOp], autocast: "low", kernels: ["matmul"] },
  linear: { defs: [linearOp], autocast: "low", autocastInputs: 2, kernels: ["matmul"] },
  linearGelu: { defs: [linearGeluOp], autocast: "low", autocastInputs: 2, kernels: ["matmulGelu", "geluBiasBackward", "matmul"] },
  where: { defs: [whereOp], kernels: ["where"] },
  embedding: { defs: [embeddingOp], kernels: ["embedding", "embeddingBackward"] },
  cast: { defs: [floatCastOp, intCastOp], kernels: ["cast"] },
  dropout: { defs: [dropoutOp, passThroughOp], kernels: ["dropout"] },
  conv2d: {
    defs: [convOp],
    autocast: "low",
    autocastInputs: 2,
    kernels: ["conv2d", "conv2dBackwardData", "conv2dBackwardWeights", "conv2dGemm", "conv2dBackwardWeightsGemm"],
  },
  conv2dMaxPool: { defs: [convMaxPoolOp], kernels: ["conv2dDirectFits", "conv2dMaxPool", "conv2dMaxPoolBackwardWeights"] },
  max_pool2d: { defs: [maxPoolOp], kernels: ["maxPool2d", "maxPool2dBackward"] },
  avg_pool2d: { defs: [avgPoolOp], kernels: ["avgPool2d", "avgPool2dBackward"] },
  softmax: { defs: [softmaxOp], autocast: "f32", kernels: ["softmax", "softmaxBackward"] },
  logSoftmax: { defs: [logSoftmaxOp], autocast: "f32", kernels: ["softmax", "softmaxBackward"] },
  layerNorm: { defs: [layerNormOp], autocast: "f32", autocastInputs: 1, kernels: ["layerNorm", "layerNormBackward"] },
  // No rule: the kernel reads a bfloat16 branch of a float32 stream as it is and sums in float32.
  addLayerNorm: { defs: [addLayerNormOp], kernels: ["addLayerNorm", "addLayerNormBackward"] },
  crossEntropy: { defs: [crossEntropyOp], autocast: "f32", kernels: ["crossEntropy", "cast", "reduce"] },
  scaledDotProductAttention: { defs: [scaledDotProductAttentionOp], autocast: "low", kernels: ["attention", "attentionBackward"] },
  causalSelfAttention: { defs: [causalSelfAttentionOp], autocast: "low", kernels: ["attention", "attentionBackward"] },
  checkpoint: { defs: [checkpointOp], kernels: [] },
};

/**
 * Ops autograd records whose rules live above this layer, beside the process groups they need
 * (src/parallel/region_ops.ts, src/parallel/tensor/): named here so that every OpDef's name is an OpName. They have
 * no autocast rule; a new one adds its name here.
 */
const OUTER_OPS = [
  "copyToRegion",
  "reduceFromRegion",
  "gatherFromRegion",
  "gatherFromSequenceRegion",
  "scatterToRegion",
  "reduceScatterToRegion",
  // src/parallel/tensor/vocab_parallel_cross_entropy.ts (it casts to float32 itself).
  "vocabParallelCrossEntropy",
  // src/parallel/expert/all_to_all_region.ts.
  "allToAllRegion",
  // src/nn/moe_slots.ts.
  "moeDispatch",
  "moeCombine",
] as const;

/** The name of any op autograd records: the table's, or one kept above this layer. @example const op: OpName = "copyToRegion"; */
export type OpName = TableOpName | (typeof OUTER_OPS)[number];

/** The op table. @example OPS.matmul.autocast // "low" */
export const OPS: Readonly<Record<TableOpName, OpEntry>> = TABLE;

const CAST_COUNTS: Partial<Record<OpName, number>> = Object.fromEntries(
  OP_NAMES.flatMap((name) => {
    const count = OPS[name].autocastInputs;
    return count === undefined ? [] : [[name, count]];
  }),
);

/**
 * How many of an op's `inputs` leading inputs its autocast rule casts.
 * @example autocastInputCount("linear", 3) // 2: the bias stays float32
 */
export function autocastInputCount(op: OpName, inputs: number): number {
  return Math.min(CAST_COUNTS[op] ?? inputs, inputs);
}

/**
 * The autocast rule of every op that has one, as a policy table (src/amp's defaults).
 * @example autocastRules().softmax // "f32"
 */
export function autocastRules(): Partial<Record<OpName, CastPolicy>> {
  const rules: Partial<Record<OpName, CastPolicy>> = {};
  for (const name of OP_NAMES) {
    const rule = OPS[name].autocast;
    if (rule !== undefined) rules[name] = rule;
  }
  return rules;
}
