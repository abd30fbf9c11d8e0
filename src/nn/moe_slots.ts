import { apply, apply1, type OpDef } from "../autograd/op.js";
import { kernels } from "../backends/index.js";
import { dt } from "../ops/util.js";
import { fromTypedArray } from "../tensor/create.js";
import type { DType } from "../tensor/dtype.js";
import { formatShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

/**
 * A mixture's rows moved between its tokens [tokens, width] and its slots, the slots in blocks
 * (one per expert that has rows) so that no expert's rows are split off or concatenated: the
 * dispatch gathers each block's token rows, the combine adds each block's rows, scaled by their
 * gates, back into their tokens. Either one's backward is the other's kernel.
 */

interface SlotAttrs {
  /** Rows per block; their sum is the slots. */
  sizes: readonly number[];
  tokens: number;
}

/** Each block's slice of a per-slot array. */
function blocksOf<T extends Int32Array | Float32Array>(perSlot: T, sizes: readonly number[]): T[] {
  let start = 0;
  return sizes.map((n) => perSlot.subarray(start, (start += n)) as T);
}

/**
 * A [tokens, width] tensor of `dtype` holding Σ gates[s]·rows[s] per token over every block's
 * slots (gates null: 1), added up in float32 and rounded once.
 */
function scatterBlocks(
  dtype: DType,
  tokens: number,
  width: number,
  slotToken: Int32Array,
  blocks: readonly (Tensor | null | undefined)[],
  sizes: readonly number[],
  gates: Float32Array | null,
): Tensor {
  const sum = Tensor.empty([tokens, width], "float32");
  const table = sum.data as Float32Array;
  table.fill(0);
  const indices = blocksOf(slotToken, sizes),
    gateBlocks = gates === null ? null : blocksOf(gates, sizes);
  blocks.forEach((rows, i) => {
    if (rows) kernels.rowsScatterAdd(dt(rows.dtype), table, tokens, width, indices[i]!, rows.data, gateBlocks === null ? null : gateBlocks[i]!);
  });
  if (dtype === "float32") return sum;
  const out = Tensor.empty([tokens, width], dtype);
  kernels.cast(dt("float32"), table, dt(dtype), out.data);
  sum.dispose();
  return out;
}

const moeDispatchOp: OpDef<SlotAttrs> = {
  name: "moeDispatch",
  forward: ([x, slotToken], { sizes, tokens }) => {
    const width = x!.shape[1]!;
    const out = blocksOf(slotToken!.data as Int32Array, sizes).map((indices) => {
      const rows = Tensor.empty([indices.length, width], x!.dtype);
      kernels.embedding(dt(x!.dtype), x!.data, tokens, width, indices, rows.data);
      return rows;
    });
    return { out, save: [slotToken!] };
  },
  backward: ({ saved: [slotToken], inputShapes, inputDtypes, needsGrad, attrs }, grads) => {
    if (!needsGrad[0]) return [null, null];
    return [scatterBlocks(inputDtypes[0]!, attrs.tokens, inputShapes[0]![1]!, slotToken!.data as Int32Array, grads, attrs.sizes, null), null];
  },
};

const moeCombineOp: OpDef<SlotAttrs> = {
  name: "moeCombine",
  forward: (inputs, { sizes, tokens }) => {
    const blocks = inputs.slice(0, sizes.length),
      [gates, slotToken] = inputs.slice(sizes.length);
    const out = scatterBlocks(blocks[0]!.dtype, tokens, blocks[0]!.shape[1]!, slotToken!.data as Int32Array, blocks, sizes, gates!.data as Float32Array);
    return { out, save: [slotToken!, gates!, ...blocks] };
  },
  backward: ({ saved: [slotToken, gates, ...blocks], inputShapes, needsGrad, attrs }, [g]) => {
    const { sizes, tokens } = attrs;
    const width = blocks[0]!.shape[1]!;
    const gradGates = needsGrad[sizes.length] ? Tensor.empty(inputShapes[sizes.length]!, "float32") : null;
    const indices = blocksOf(slotToken!.data as Int32Array, sizes),
      gateBlocks = blocksOf(gates!.data as Float32Array, sizes),
      gradGateBlocks = gradGates === null ? null : blocksOf(gradGates.data as Float32Array, sizes);
    const gradBlocks = blocks.map((rows, i) => {
      const gradRows = Tensor.empty(rows.shape, rows.dtype);
      const withGates = gradGateBlocks !== null;
      kernels.rowsGatherScaled(
        dt(rows.dtype),
        g!.data,
        tokens,
        width,
        indices[i]!,
        gateBlocks[i]!,
        gradRows.data,
        withGates ? rows.data : null,
        withGates ? gradGateBlocks[i]! : null,
      );
      return gradRows;
    });
    return [...gradBlocks.map((t, i) => (needsGrad[i] ? t : null)), gradGates, null];
  },
};

function checkSlots(what: string, slotToken: Int32Array, sizes: readonly number[]): void {
  const slots = sizes.reduce((a, b) => a + b, 0);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || slots !== slotToken.length) {
    throw new RangeError(`moe ${what}: blocks of [${sizes.join(", ")}] rows must be positive and add up to the ${slotToken.length} slots`);
  }
}

/**
 * A mixture's dispatch: x [tokens, width] gathered into the slots' rows, as blocks of `sizes`
 * rows (block i holds slots [sizes[0] + … + sizes[i−1], + sizes[i]), slot s the row of token
 * slotToken[s]). Backward adds each slot's gradient back into its token's row.
 * @example const [rows0, rows1] = dispatchSlots(x, plan.slotToken, [3, 1]);
 */
export function dispatchSlots(x: Tensor, slotToken: Int32Array, sizes: readonly number[]): Tensor[] {
  checkSlots("dispatch", slotToken, sizes);
  if (x.ndim !== 2) throw new RangeError(`moe dispatch: x ${formatShape(x.shape)} must be [tokens, width]`);
  const token = fromTypedArray(slotToken, [slotToken.length]);
  return apply(moeDispatchOp, [x, token], { sizes, tokens: x.shape[0]! }) as Tensor[];
}

/**
 * A mixture's combine: out[t] = Σ gates[s]·rows[s] over the slots s of token t, the rows given
 * as the blocks `dispatchSlots` made (expert outputs, [sizes[i], width] each) and the gates as
 * float32 [slots] (or [slots, 1]); a token in no slot gets zeros. One native scaled scatter-add
 * per block, summed in float32 and rounded once to the rows' dtype; backward scales the token
 * gradients back to the slots and gives each gate its row's dot product with them.
 * @example combineSlots([out0, out1], gates, plan.slotToken, tokens)   // [tokens, width]
 */
export function combineSlots(blocks: readonly Tensor[], gates: Tensor, slotToken: Int32Array, tokens: number): Tensor {
  const sizes = blocks.map((b) => b.shape[0]!);
  checkSlots("combine", slotToken, sizes);
  const width = blocks[0]!.shape[1];
  for (const b of blocks) {
    if (b.ndim !== 2 || b.shape[1] !== width || b.dtype !== blocks[0]!.dtype) {
      throw new RangeError(`moe combine: block ${formatShape(b.shape)} ${b.dtype} must be [rows, ${width}] ${blocks[0]!.dtype} like the first`);
    }
  }
  if (gates.dtype !== "float32" || gates.shape.reduce((a, b) => a * b, 1) !== slotToken.length) {
    throw new RangeError(`moe combine: gates ${formatShape(gates.shape)} ${gates.dtype} must be float32 with one per slot (${slotToken.length})`);
  }
  return apply1(moeCombineOp, [...blocks, gates, fromTypedArray(slotToken, [slotToken.length])], { sizes, tokens });
}
