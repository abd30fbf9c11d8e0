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
 */
import type { KernelName } from "../backends/index.js";
import { checkpointOp } from "../autograd/checkpoint.js";
import type { OpDef } from "../autograd/op.js";
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
  /** The kernels its rules call themselves (rules that call other ops use those ops' kernels). */
  readonly kernels: readonly KernelName[];
}

const UNARY: readonly KernelName[] = ["unary", "unaryBackward"];
const BINARY: readonly KernelName[] = ["binary"];
const REDUCE: readonly KernelName[] = ["reduce"];
const COPY: readonly KernelName[] = ["copyStrided"];
const u = (def: OpDef<any>): OpEntry => ({ defs: [def], kernels: UNARY });
const b = (def: OpDef<any>): OpEntry => ({ defs: [def], autocast: "promote", kernels: BINARY });

/** The table with its keys kept and each entry typed as OpEntry (whatever its attributes). */
function table<T extends Record<string, OpEntry>>(entries: T): { readonly [K in keyof T]: OpEntry } {
  return entries;
}

const TABLE = table({
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
  linear: { defs: [linearOp], autocast: "low", kernels: ["matmul"] },
  where: { defs: [whereOp], kernels: ["where"] },
  embedding: { defs: [embeddingOp], kernels: ["embedding", "embeddingBackward"] },
  cast: { defs: [floatCastOp, intCastOp], kernels: ["cast"] },
  dropout: { defs: [dropoutOp, passThroughOp], kernels: ["dropout"] },
  conv2d: { defs: [convOp], autocast: "low", kernels: ["conv2d", "conv2dBackwardData", "conv2dBackwardWeights"] },
  conv2dMaxPool: { defs: [convMaxPoolOp], kernels: ["conv2dDirectFits", "conv2dMaxPool", "conv2dMaxPoolBackwardWeights"] },
  max_pool2d: { defs: [maxPoolOp], kernels: ["maxPool2d", "maxPool2dBackward"] },
  avg_pool2d: { defs: [avgPoolOp], kernels: ["avgPool2d", "avgPool2dBackward"] },
  softmax: { defs: [softmaxOp], autocast: "f32", kernels: ["softmax", "softmaxBackward"] },
  logSoftmax: { defs: [logSoftmaxOp], autocast: "f32", kernels: ["softmax", "softmaxBackward"] },
  layerNorm: { defs: [layerNormOp], autocast: "f32", kernels: ["layerNorm", "layerNormBackward"] },
  crossEntropy: { defs: [crossEntropyOp], autocast: "f32", kernels: ["crossEntropy", "cast", "reduce"] },
  scaledDotProductAttention: { defs: [scaledDotProductAttentionOp], autocast: "low", kernels: ["attention", "attentionBackward"] },
  causalSelfAttention: { defs: [causalSelfAttentionOp], autocast: "low", kernels: ["attention", "attentionBackward"] },
  checkpoint: { defs: [checkpointOp], kernels: [] },
});

/** The name of an op of the table. @example const op: OpName = "matmul"; */
export type OpName = keyof typeof TABLE;

/** The op table. @example OPS.matmul.autocast // "low" */
export const OPS: Readonly<Record<OpName, OpEntry>> = TABLE;

/** Every op's name. @example OP_NAMES.includes("sum") // true */
export const OP_NAMES = Object.keys(TABLE) as readonly OpName[];

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
