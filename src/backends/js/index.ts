/**
 * The js backend: every kernel of the interface in plain TypeScript, accumulating in float64 —
 * slow, obviously correct, an oracle for the native kernels on shapes no fixture covers.
 * `TURBINE_BACKEND=js` runs everything on it.
 */
import type { Kernels } from "../kernels.js";
import * as add_layer_norm from "./add_layer_norm.js";
import * as attention from "./attention.js";
import * as binary from "./binary.js";
import * as cast from "./cast.js";
import * as clipping from "./clipping.js";
import * as codes from "./codes.js";
import * as collective from "./collective.js";
import * as conv2d from "./conv2d.js";
import * as conv2d_maxpool from "./conv2d_maxpool.js";
import * as copy from "./copy.js";
import * as cross_entropy from "./cross_entropy.js";
import * as dropout from "./dropout.js";
import * as embedding from "./embedding.js";
import * as grad_scaler from "./grad_scaler.js";
import * as layer_norm from "./layer_norm.js";
import * as linear_gelu from "./linear_gelu.js";
import * as meta_fields from "./meta_fields.js";
import * as moe_rows from "./moe_rows.js";
import * as matmul from "./matmul.js";
import * as onebit from "./onebit.js";
import * as optimizer_steps from "./optimizer_steps.js";
import * as pool from "./pool.js";
import * as random from "./random.js";
import * as reduce from "./reduce.js";
import * as softmax from "./softmax.js";
import * as system from "./system.js";
import * as unary from "./unary.js";
import * as where from "./where.js";

/** The js backend's kernels (the type makes the table complete). */
export const jsKernels: Kernels = {
  attention: attention.attention,
  attentionBackward: attention.attentionBackward,
  binary: binary.binary,
  cast: cast.cast,
  sumOfSquares: clipping.sumOfSquares,
  onebitPack: onebit.onebitPack,
  onebitUnpack: onebit.onebitUnpack,
  clampInPlace: clipping.clampInPlace,
  collectiveReduce: collective.collectiveReduce,
  conv2d: conv2d.conv2d,
  conv2dBackwardData: conv2d.conv2dBackwardData,
  conv2dBackwardWeights: conv2d.conv2dBackwardWeights,
  conv2dBackwardWeightsGemm: conv2d.conv2dBackwardWeightsGemm,
  conv2dGemm: conv2d.conv2dGemm,
  conv2dDirectFits: conv2d_maxpool.conv2dDirectFits,
  conv2dMaxPool: conv2d_maxpool.conv2dMaxPool,
  conv2dMaxPoolBackwardWeights: conv2d_maxpool.conv2dMaxPoolBackwardWeights,
  copyStrided: copy.copyStrided,
  copyBytes: copy.copyBytes,
  crossEntropy: cross_entropy.crossEntropy,
  dropout: dropout.dropout,
  embedding: embedding.embedding,
  embeddingBackward: embedding.embeddingBackward,
  rowsScatterAdd: moe_rows.rowsScatterAdd,
  rowsGatherScaled: moe_rows.rowsGatherScaled,
  unscaleAndCheck: grad_scaler.unscaleAndCheck,
  layerNorm: layer_norm.layerNorm,
  layerNormBackward: layer_norm.layerNormBackward,
  addLayerNorm: add_layer_norm.addLayerNorm,
  addLayerNormBackward: add_layer_norm.addLayerNormBackward,
  matmul: matmul.matmul,
  matmulGelu: linear_gelu.matmulGelu,
  geluBiasBackward: linear_gelu.geluBiasBackward,
  adamStep: optimizer_steps.adamStep,
  adamStepMulti: optimizer_steps.adamStepMulti,
  lionStepMulti: optimizer_steps.lionStepMulti,
  lambStepMulti: optimizer_steps.lambStepMulti,
  sgdStep: optimizer_steps.sgdStep,
  maxPool2d: pool.maxPool2d,
  maxPool2dBackward: pool.maxPool2dBackward,
  avgPool2d: pool.avgPool2d,
  avgPool2dBackward: pool.avgPool2dBackward,
  randomUniform: random.randomUniform,
  randomNormal: random.randomNormal,
  randomInt: random.randomInt,
  reduce: reduce.reduce,
  softmax: softmax.softmax,
  softmaxBackward: softmax.softmaxBackward,
  setNumThreads: system.setNumThreads,
  getNumThreads: system.getNumThreads,
  currentCpu: system.currentCpu,
  keepOffCpu: system.keepOffCpu,
  alignmentOffset: system.alignmentOffset,
  unary: unary.unary,
  unaryBackward: unary.unaryBackward,
  where: where.where,
  metaFields: meta_fields.metaFields,
  unaryCodes: codes.unaryCodes,
  binaryCodes: codes.binaryCodes,
  reduceCodes: codes.reduceCodes,
  collectiveCodes: codes.collectiveCodes,
};
