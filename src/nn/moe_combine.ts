import { apply1, type OpDef } from "../autograd/op.js";
import { kernels } from "../backends/index.js";
import { formatShape } from "../tensor/shape.js";
import { fromTypedArray } from "../tensor/create.js";
import { Tensor } from "../tensor/tensor.js";
import { dt } from "../ops/util.js";

interface CombineAttrs {
  tokens: number;
}

/** out[t] = Σ rows[s] over the slots s of token t: the embedding kernels, the other way round. */
const moeCombineOp: OpDef<CombineAttrs> = {
  name: "moeCombine",
  forward: ([rows, slotToken], { tokens }) => {
    const width = rows!.shape[1]!;
    const out = Tensor.empty([tokens, width], rows!.dtype);
    // The embedding's backward zeroes the table, then adds each row at its index.
    kernels.embeddingBackward(dt(rows!.dtype), out.data, tokens, width, slotToken!.data as Int32Array, rows!.data);
    return { out, save: [slotToken!] };
  },
  backward: ({ saved: [slotToken], inputShapes, inputDtypes, needsGrad, attrs }, [g]) => {
    if (!needsGrad[0]) return [null, null];
    const gRows = Tensor.empty(inputShapes[0]!, inputDtypes[0]!);
    kernels.embedding(dt(gRows.dtype), g!.data, attrs.tokens, inputShapes[0]![1]!, slotToken!.data as Int32Array, gRows.data);
    return [gRows, null];
  },
};

/**
 * A mixture's combine: every expert output row (already scaled by its gate) added into its
 * token's row, [slots, width] → [tokens, width]; a token in no slot gets zeros. One native
 * scatter-add instead of a gather per choice; backward gathers the token gradients back to the
 * slots.
 * @example combineSlots(mul(expertOut, gates), plan.slotToken, tokens)   // [tokens, width]
 */
export function combineSlots(rows: Tensor, slotToken: Int32Array, tokens: number): Tensor {
  if (rows.ndim !== 2 || rows.shape[0] !== slotToken.length) {
    throw new RangeError(`moe combine: rows ${formatShape(rows.shape)} must be [${slotToken.length}, width] (one per slot)`);
  }
  return apply1(moeCombineOp, [rows, fromTypedArray(slotToken, [slotToken.length])], { tokens });
}
