import { Tensor } from "../tensor/tensor.js";

/**
 * One tensor of a batch: which field of each sample fills it, its dtype and the shape of one
 * sample's part (a scalar field such as a label has shape []).
 */
export interface BatchField {
  from: string;
  dtype: "float32" | "int32";
  shape: readonly number[];
}

/**
 * How samples become a batch { x, y }, as data rather than a function, so a worker thread can
 * write batches straight into shared memory: x is [B, ...x.shape] filled from sample[x.from],
 * and y likewise.
 *
 * @example
 * const layout: BatchLayout = labelledLayout([1, 28, 28]); // x ← image, y ← label
 */
export interface BatchLayout {
  x: BatchField;
  y: BatchField;
}

const ARRAYS = { float32: Float32Array, int32: Int32Array } as const;

/**
 * The layout of labelled samples { image: Float32Array, label } of a sample shape.
 * @example labelledLayout([1, 28, 28]).x // { from: "image", dtype: "float32", shape: [1, 28, 28] }
 */
export function labelledLayout(sampleShape: readonly number[]): BatchLayout {
  return { x: { from: "image", dtype: "float32", shape: [...sampleShape] }, y: { from: "label", dtype: "int32", shape: [] } };
}

/**
 * Whether a layout is `labelledLayout(sampleShape)`, the one `Dataset.gather` writes.
 * @example isLabelledLayout(labelledLayout([1, 28, 28]), [1, 28, 28]) // true
 */
export function isLabelledLayout(layout: BatchLayout, sampleShape: readonly number[]): boolean {
  const { x, y } = layout;
  return (
    x.from === "image" && x.dtype === "float32" && x.shape.join() === sampleShape.join() && y.from === "label" && y.dtype === "int32" && y.shape.length === 0
  );
}

/**
 * The layout of token windows { x: Int32Array(context), y: Int32Array(context) }.
 * @example tokenLayout(128).y // { from: "y", dtype: "int32", shape: [128] }
 */
export function tokenLayout(context: number): BatchLayout {
  return { x: { from: "x", dtype: "int32", shape: [context] }, y: { from: "y", dtype: "int32", shape: [context] } };
}

/** Elements of one sample's part of a field. */
export function fieldSize(field: BatchField): number {
  return field.shape.reduce((a, b) => a * b, 1);
}

function describeField(field: BatchField): string {
  if (field.shape.length === 0) return `${field.from}: ${field.dtype} number`;
  const name = ARRAYS[field.dtype].name;
  return `${field.from}: ${name}(${fieldSize(field)})${field.shape.length > 1 ? ` for shape [${field.shape.join(", ")}]` : ""}`;
}

/**
 * What a sample of a layout looks like, for error messages.
 * @example describeLayout(tokenLayout(5)) // "{ x: Int32Array(5), y: Int32Array(5) }"
 */
export function describeLayout(layout: BatchLayout): string {
  return `{ ${describeField(layout.x)}, ${describeField(layout.y)} }`;
}

function describeValue(value: unknown): string {
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as ArrayLike<number>).length})`;
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? String(value);
  return Array.isArray(value) ? `an array of ${value.length}` : `an object`;
}

/** Writes a sample's field into row `row` of `out`, or returns what is wrong with it. */
function writeField(field: BatchField, sample: Record<string, unknown>, row: number, out: Float32Array | Int32Array): string | null {
  const value = sample[field.from];
  const size = fieldSize(field);
  if (field.shape.length === 0) {
    const ok =
      typeof value === "number" && (field.dtype === "float32" ? !Number.isNaN(value) : Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31);
    if (!ok) return `has ${field.from} ${describeValue(value)}`;
    out[row] = value as number;
    return null;
  }
  if (!(value instanceof ARRAYS[field.dtype]) || value.length !== size) return `has ${field.from} ${describeValue(value)}`;
  out.set(value, row * size);
  return null;
}

/**
 * Writes sample `row` of a batch into the batch's x and y arrays. Throws a TypeError naming the
 * sample (`label`, e.g. "sample 3" or "dataset index 812") and the expected layout when a
 * field is missing or has the wrong type, length or value.
 *
 * @example fillRow(layout, dataset.get(i), k, xArray, yArray, `sample ${k}`, "collateLabelled");
 */
export function fillRow(
  layout: BatchLayout,
  sample: unknown,
  row: number,
  x: Float32Array | Int32Array,
  y: Float32Array | Int32Array,
  label: string,
  where: string,
): void {
  const problem =
    sample === null || typeof sample !== "object"
      ? `is ${describeValue(sample)}`
      : (writeField(layout.x, sample as Record<string, unknown>, row, x) ?? writeField(layout.y, sample as Record<string, unknown>, row, y));
  if (problem !== null) {
    throw new TypeError(`${where}: ${label} ${problem}, expected ${describeLayout(layout)}; pass a collate function to the DataLoader for other samples`);
  }
}

/**
 * The typed array of `count` rows of a field over `buffer` at `byteOffset` (a worker's shared batch slot).
 * @example const x = fieldArray(layout.x, slot, 0, 128);
 */
export function fieldArray(field: BatchField, buffer: ArrayBufferLike, byteOffset: number, count: number): Float32Array | Int32Array {
  return new ARRAYS[field.dtype](buffer as ArrayBuffer, byteOffset, count * fieldSize(field));
}

/**
 * Stacks samples into one batch of pooled tensors (memory category "activation") by a
 * layout; the caller disposes x and y after the step.
 *
 * @example const { x, y } = collateWith(labelledLayout([1, 28, 28]), [train.get(0), train.get(1)]);
 */
export function collateWith(layout: BatchLayout, samples: readonly unknown[], where = "collate"): { x: Tensor; y: Tensor } {
  if (samples.length === 0) throw new RangeError(`${where}: cannot make a batch of 0 samples`);
  const x = Tensor.empty([samples.length, ...layout.x.shape], layout.x.dtype);
  const y = Tensor.empty([samples.length, ...layout.y.shape], layout.y.dtype);
  try {
    samples.forEach((s, i) => fillRow(layout, s, i, x.data as Float32Array, y.data as Int32Array, `sample ${i}`, where));
  } catch (err) {
    x.dispose();
    y.dispose();
    throw err;
  }
  return { x, y };
}
