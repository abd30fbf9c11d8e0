import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { binary } from "../../../src/backends/js/binary.js";
import { cast } from "../../../src/backends/js/cast.js";
import { clampInPlace, sumOfSquares } from "../../../src/backends/js/clipping.js";
import { collectiveReduce } from "../../../src/backends/js/collective.js";
import { copyBytes, copyStrided } from "../../../src/backends/js/copy.js";
import { crossEntropy } from "../../../src/backends/js/cross_entropy.js";
import { dropout } from "../../../src/backends/js/dropout.js";
import { embedding, embeddingBackward } from "../../../src/backends/js/embedding.js";
import { rowsGatherScaled, rowsScatterAdd } from "../../../src/backends/js/moe_rows.js";
import { unscaleAndCheck } from "../../../src/backends/js/grad_scaler.js";
import { addLayerNorm, addLayerNormBackward } from "../../../src/backends/js/add_layer_norm.js";
import { geluBiasBackward, matmulGelu } from "../../../src/backends/js/linear_gelu.js";
import { adamStep, adamStepMulti, lionStepMulti, sgdStep } from "../../../src/backends/js/optimizer_steps.js";
import { randomInt, randomNormal, randomUniform } from "../../../src/backends/js/random.js";
import { reduce } from "../../../src/backends/js/reduce.js";
import { softmax, softmaxBackward } from "../../../src/backends/js/softmax.js";
import { setNumThreads } from "../../../src/backends/js/system.js";
import { unary, unaryBackward } from "../../../src/backends/js/unary.js";
import { where } from "../../../src/backends/js/where.js";
import { loadNative } from "../../../src/backends/native/addon.js";

const native = loadNative();

const f = (n: number): Float32Array => new Float32Array(n);
const h = (n: number): Uint16Array => new Uint16Array(n);
const i32 = (...v: number[]): Int32Array => Int32Array.from(v);
const hyperAdam = (): Float64Array => Float64Array.of(1e-3, 0.9, 0.999, 1e-8, 0, 1, 0);

/** One call per kernel that native rejects, and the js kernel must reject with the same message. */
type Call = (k: Record<string, (...args: never[]) => unknown>) => unknown;
const CALLS: [string, Call][] = [
  ["unary: wrong array kind", (k) => k.unary!(...([0, 1, f(2), h(2), 0] as never[]))],
  ["unaryBackward: short saved", (k) => k.unaryBackward!(...([0, 0, f(3), f(2), f(3), 0] as never[]))],
  ["binary: short meta", (k) => k.binary!(...([0, 0, f(2), f(2), f(2), i32(1, 2)] as never[]))],
  ["binary: negative extent", (k) => k.binary!(...([0, 0, f(2), f(2), f(2), i32(1, -2, 1, 1)] as never[]))],
  ["reduce: negative extent", (k) => k.reduce!(...([0, 0, f(2), f(2), -1, 2, 1, 0] as never[]))],
  ["reduce: unknown code", (k) => k.reduce!(...([4, 0, f(2), f(1), 1, 2, 1, 0] as never[]))],
  ["copyStrided: int32 dtype, float array", (k) => k.copyStrided!(...([3, f(2), 0, f(2), 0, i32(1, 2, 1, 1)] as never[]))],
  ["cast: dtype code 9", (k) => k.cast!(...([9, f(1), 0, f(1)] as never[]))],
  ["where: cond read past its end", (k) => k.where!(...([0, f(1), 0, f(2), f(2), f(2), i32(1, 2, 1, 1, 1)] as never[]))],
  ["embedding: negative rows", (k) => k.embedding!(...([0, f(0), -1, 2, i32(), f(0)] as never[]))],
  ["embeddingBackward: short grad", (k) => k.embeddingBackward!(...([0, f(4), 2, 2, i32(1), f(1)] as never[]))],
  ["rowsScatterAdd: bf16 out", (k) => k.rowsScatterAdd!(...([1, h(4), 2, 2, i32(1), h(2), null] as never[]))],
  ["rowsScatterAdd: a gate short", (k) => k.rowsScatterAdd!(...([0, f(4), 2, 2, i32(1, 0), f(4), f(1)] as never[]))],
  ["rowsGatherScaled: rows without gradGates", (k) => k.rowsGatherScaled!(...([0, f(4), 2, 2, i32(1), f(1), f(2), f(2), null] as never[]))],
  ["randomUniform: int32 dtype", (k) => k.randomUniform!(...([3, new Int32Array(2), 0, 0, 0, 1] as never[]))],
  ["randomNormal: negative offset", (k) => k.randomNormal!(...([0, f(2), 0, -1, 0, 1] as never[]))],
  ["randomInt: fractional seed", (k) => k.randomInt!(...([new Int32Array(2), 0.5, 0, 0, 1] as never[]))],
  ["dropout: p above 1", (k) => k.dropout!(...([0, f(2), f(2), 0, 0, 2] as never[]))],
  ["adamStep: bf16 copy of the wrong length", (k) => k.adamStep!(...([f(2), f(2), f(2), f(2), h(3), hyperAdam()] as never[]))],
  [
    "adamStepMulti: a gradient of the wrong length",
    (k) =>
      k.adamStepMulti!(...([[f(2), f(3)], [f(2), f(2)], [f(2), f(3)], [f(2), f(3)], [null, null], Float64Array.of(...hyperAdam(), ...hyperAdam())] as never[])),
  ],
  ["adamStepMulti: fewer moments than parameters", (k) => k.adamStepMulti!(...([[f(2)], [f(2)], [], [f(2)], [null], hyperAdam()] as never[]))],
  [
    "adamStepMulti: step 0",
    (k) => k.adamStepMulti!(...([[f(2)], [f(2)], [f(2)], [f(2)], [null], Float64Array.of(1e-3, 0.9, 0.999, 1e-8, 0, 0, 0)] as never[])),
  ],
  ["lionStepMulti: short hyper", (k) => k.lionStepMulti!(...([[f(2), f(2)], [f(2), f(2)], [f(2), f(2)], new Float64Array(4)] as never[]))],
  ["lionStepMulti: params not an array", (k) => k.lionStepMulti!(...([f(2), [f(2)], [f(2)], new Float64Array(4)] as never[]))],
  ["matmulGelu: short preActivation", (k) => k.matmulGelu!(...([f(2), f(2), f(4), null, 0, 0, i32(1, 1, 2, 2, 1, 0, 1, 0), f(3)] as never[]))],
  ["geluBiasBackward: dbias of the wrong length", (k) => k.geluBiasBackward!(...([0, f(6), f(6), f(6), f(2), 2, 3] as never[]))],
  ["addLayerNorm: bf16 y in a Float32Array", (k) => k.addLayerNorm!(...([0, f(6), 0, f(6), null, null, f(6), f(6), f(4), f(2), 2, 3, 1e-5, 1] as never[]))],
  [
    "addLayerNormBackward: short gradSum",
    (k) => k.addLayerNormBackward!(...([0, f(6), 0, f(5), f(6), null, f(4), f(2), f(6), 0, null, null, null, 2, 3] as never[])),
  ],
  ["sgdStep: hyper not a Float64Array", (k) => k.sgdStep!(...([f(2), f(2), null, f(6)] as never[]))],
  ["sumOfSquares: int32", (k) => k.sumOfSquares!(...([3, new Int32Array(2)] as never[]))],
  ["clampInPlace: low above high", (k) => k.clampInPlace!(...([0, f(2), 2, 1] as never[]))],
  ["unscaleAndCheck: wrong array kind", (k) => k.unscaleAndCheck!(...([2, f(2), 1] as never[]))],
  ["softmax: y too short", (k) => k.softmax!(...([0, f(4), f(3), 1, 4, 1, false] as never[]))],
  ["softmaxBackward: log not a boolean", (k) => k.softmaxBackward!(...([0, f(4), f(4), f(4), 1, 4, 1, 1] as never[]))],
  ["crossEntropy: short targets", (k) => k.crossEntropy!(...([0, f(6), i32(0), f(2), null, 2, 3, -100, 0] as never[]))],
  ["collectiveReduce: not an array", (k) => k.collectiveReduce!(...([0, 0, f(2), [f(2)], 1] as never[]))],
  ["copyBytes: Float64Array", (k) => k.copyBytes!(...([new Float64Array(1), f(2)] as never[]))],
  ["setNumThreads: too many", (k) => k.setNumThreads!(...([2000] as never[]))],
];

const JS = {
  unary,
  unaryBackward,
  binary,
  reduce,
  copyStrided,
  cast,
  where,
  embedding,
  embeddingBackward,
  rowsScatterAdd,
  rowsGatherScaled,
  randomUniform,
  randomNormal,
  randomInt,
  dropout,
  adamStep,
  adamStepMulti,
  lionStepMulti,
  matmulGelu,
  geluBiasBackward,
  addLayerNorm,
  addLayerNormBackward,
  sgdStep,
  sumOfSquares,
  clampInPlace,
  unscaleAndCheck,
  softmax,
  softmaxBackward,
  crossEntropy,
  collectiveReduce,
  copyBytes,
  setNumThreads,
} as unknown as Record<string, (...args: never[]) => unknown>;

/** The message a call throws, or a failure if it does not throw. */
function messageOf(call: () => unknown, what: string): string {
  try {
    call();
  } catch (e) {
    return (e as Error).message;
  }
  return assert.fail(`${what} did not throw`);
}

describe("bad arguments", () => {
  for (const [what, call] of CALLS) {
    test(`${what}: the js kernel throws native's message`, () => {
      const nat = messageOf(() => call(native as unknown as Record<string, (...args: never[]) => unknown>), `native ${what}`);
      assert.equal(
        messageOf(() => call(JS), `js ${what}`),
        nat,
      );
    });
  }
});

/** Calls over empty tensors, which native accepts. */
const EMPTY: [string, Call][] = [
  ["unary", (k) => k.unary!(...([0, 0, f(0), f(0), 0] as never[]))],
  ["unaryBackward", (k) => k.unaryBackward!(...([0, 1, h(0), h(0), h(0), 0] as never[]))],
  ["binary", (k) => k.binary!(...([0, 0, f(0), f(0), f(0), i32(2, 0, 3, 3, 1, 3, 1)] as never[]))],
  ["reduce", (k) => k.reduce!(...([0, 0, f(0), f(0), 0, 5, 3, 0] as never[]))],
  ["copyStrided", (k) => k.copyStrided!(...([0, f(0), 0, f(0), 0, i32(1, 0, 1, 1)] as never[]))],
  ["cast", (k) => k.cast!(...([0, f(0), 1, h(0)] as never[]))],
  ["where", (k) => k.where!(...([3, i32(), 0, f(0), f(0), f(0), i32(1, 0, 1, 1, 1)] as never[]))],
  ["embedding", (k) => k.embedding!(...([0, f(6), 3, 2, i32(), f(0)] as never[]))],
  ["rowsScatterAdd", (k) => k.rowsScatterAdd!(...([0, f(6), 3, 2, i32(), f(0), f(0)] as never[]))],
  ["rowsGatherScaled", (k) => k.rowsGatherScaled!(...([1, h(6), 3, 2, i32(), f(0), h(0), h(0), f(0)] as never[]))],
  ["randomNormal", (k) => k.randomNormal!(...([0, f(0), 1, 0, 0, 1] as never[]))],
  ["dropout", (k) => k.dropout!(...([1, h(0), h(0), 1, 0, 0.5] as never[]))],
  ["adamStep", (k) => k.adamStep!(...([f(0), f(0), f(0), f(0), null, hyperAdam()] as never[]))],
  ["softmax", (k) => k.softmax!(...([0, f(0), f(0), 0, 4, 1, true] as never[]))],
  ["crossEntropy", (k) => k.crossEntropy!(...([0, f(0), i32(), f(0), f(0), 0, 3, -100, 0] as never[]))],
  ["collectiveReduce", (k) => k.collectiveReduce!(...([0, 1, [f(0)], [f(0), f(0)], 1] as never[]))],
];

describe("empty tensors", () => {
  for (const [what, call] of EMPTY) {
    test(`${what} accepts them, as native does`, () => {
      call(native as unknown as Record<string, (...args: never[]) => unknown>);
      call(JS);
    });
  }

  test("sumOfSquares of nothing is 0 and embeddingBackward of no indices zeroes the gradient", () => {
    assert.equal(sumOfSquares(0, f(0)), 0);
    const gw = Float32Array.of(1, 2);
    embeddingBackward(0, gw, 1, 2, i32(), f(0));
    assert.deepEqual(Array.from(gw), [0, 0]);
  });
});
