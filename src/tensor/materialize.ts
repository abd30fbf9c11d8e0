import { fillWith } from "./create.js";
import type { DType } from "./dtype.js";
import type { MemoryCategory } from "./memory.js";
import { initSteps, type InitStep } from "./init_recipe.js";
import { Generator, normal_, uniform_ } from "./random.js";
import { formatShape } from "./shape.js";
import { Tensor } from "./tensor.js";

/** Random draws come in Philox blocks of 4 (and normal pairs within a block): see random.ts. */
const BLOCK = 4;

function apply(buffer: Tensor, step: InitStep, firstBlock: number): void {
  if (step.kind === "fill") {
    fillWith(buffer, step.value);
    return;
  }
  const generator = new Generator(step.seed).setState({ seed: step.seed, offset: step.offset + firstBlock });
  if (step.kind === "uniform") uniform_(buffer, step.low, step.high, generator);
  else normal_(buffer, step.mean, step.std, generator);
}

/**
 * Elements [start, start + count) (flat, row-major) of a meta tensor, as its recipe makes them:
 * the values the eager constructor gave them, drawn from the same counters. A new tensor of
 * shape `shape` (default [count]), in the meta tensor's memory category.
 * @example const myShard = materializeRange(weight, rank * n, n);
 */
export function materializeRange(t: Tensor, start: number, count: number, shape: readonly number[] = [count]): Tensor {
  if (!t.isMeta) throw new Error(`materializeRange: the tensor ${formatShape(t.shape)} is not meta`);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > t.size) {
    throw new RangeError(`materializeRange: elements ${start}..${start + count} of a tensor of ${t.size}`);
  }
  // Drawn from the start of the block holding `start`, so every element gets its own counter.
  const lead = start % BLOCK;
  const buffer = Tensor.empty([lead + count], t.dtype, t.category);
  for (const step of initSteps(t)) apply(buffer, step, (start - lead) / BLOCK);
  const values = buffer.viewRange(lead, shape);
  buffer.dispose();
  return values;
}

/**
 * Chunk `index` of `parts` equal chunks of a meta tensor along `dim`, as its recipe makes it
 * (a tensor-parallel rank's columns or rows of a weight).
 * @example const columns = materializeSlice(weight, 1, rank, ranks);   // [out, in/ranks]
 */
export function materializeSlice(t: Tensor, dim: number, index: number, parts: number): Tensor {
  const extent = t.shape[dim];
  if (extent === undefined || !Number.isInteger(dim) || dim < 0) throw new RangeError(`materializeSlice: dim ${dim} of a tensor ${formatShape(t.shape)}`);
  if (!Number.isInteger(parts) || parts < 1 || extent % parts !== 0 || !Number.isInteger(index) || index < 0 || index >= parts) {
    throw new RangeError(
      `materializeSlice: chunk ${index} of ${parts} along dim ${dim} of ${formatShape(t.shape)} (the extent ${extent} must divide by ${parts})`,
    );
  }
  const chunk = extent / parts;
  const inner = t.shape.slice(dim + 1).reduce((n, d) => n * d, 1);
  const outer = t.shape.slice(0, dim).reduce((n, d) => n * d, 1);
  const shape = t.shape.map((d, i) => (i === dim ? chunk : d));
  const run = chunk * inner,
    at = (o: number): number => (o * extent + index * chunk) * inner;
  if (outer === 1) return materializeRange(t, at(0), run, shape);
  const out = Tensor.empty(shape, t.dtype, t.category);
  for (let o = 0; o < outer; o++) {
    const part = materializeRange(t, at(o), run);
    out.data.set(part.data, o * run);
    part.dispose();
  }
  return out;
}

/** Meta tensors whose elements a function gives instead of a recipe of their own (see metaOf). */
const producers = new WeakMap<Tensor, () => Tensor>();

/**
 * A meta tensor whose elements `produce` gives whenever it is materialised (again after an
 * unrealize): a rank's part of a meta tensor of the full model, held without memory until the
 * rank needs it. `produce` returns a new tensor of this shape and dtype.
 * @example const mine = metaOf([rows, width], "float32", "parameter", () => materializeSplit(full, split, rank, ranks));
 */
export function metaOf(shape: readonly number[], dtype: DType, category: MemoryCategory, produce: () => Tensor): Tensor {
  const t = Tensor.meta(shape, dtype, category);
  producers.set(t, produce);
  return t;
}

/**
 * Gives a meta tensor its elements in place (the same tensor object), as its recipe (or its
 * producer, see metaOf) makes them.
 * @example materializeInPlace(linear.weight);
 */
export function materializeInPlace(t: Tensor): void {
  const produce = producers.get(t);
  t.realize(produce ? produce() : materializeRange(t, 0, t.size, t.shape));
}
