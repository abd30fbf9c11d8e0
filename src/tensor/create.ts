import { checkDType, DTYPES, type DType, type TypedArray } from "./dtype.js";
import type { MemoryCategory } from "./memory.js";
import { codes, kernels } from "../backends/index.js";
import { deferringInit, recordInit } from "./init_recipe.js";
import { hostWrites } from "./host_write.js";
import { checkShape } from "./shape.js";
import { Storage } from "./storage.js";
import { Tensor } from "./tensor.js";

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  /** The memory tracker's category for the new storage (default "other"). */
  category?: MemoryCategory;
}

type Nested = number | readonly Nested[];

function make(shape: readonly number[], options: TensorOptions | undefined, where: string): Tensor {
  checkShape(shape, where);
  const dtype = options?.dtype === undefined ? "float32" : checkDType(options.dtype, where);
  const category = options?.category ?? "other";
  const t = deferringInit() ? Tensor.meta([...shape], dtype, category) : Tensor.empty([...shape], dtype, category);
  if (options?.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Fills t with value, encoding it for bf16/f16 (a meta tensor records the fill). */
export function fillWith(t: Tensor, value: number): Tensor {
  if (t.isMeta) return recordInit(t, { kind: "fill", value });
  if (t.dtype === "float32" || t.dtype === "int32") {
    t.data.fill(value);
    hostWrites()?.fill(t.data, value);
  } else {
    kernels.unary(codes.unary.fill!, DTYPES[t.dtype].code, t.data, t.data, value);
  }
  return t;
}

/**
 * A tensor of zeros.
 * @example zeros([2, 3], { dtype: "bfloat16" })
 */
export function zeros(shape: readonly number[], options?: TensorOptions): Tensor {
  return fillWith(make(shape, options, "zeros"), 0);
}

/** A tensor of ones. @example ones([4]) */
export function ones(shape: readonly number[], options?: TensorOptions): Tensor {
  return fillWith(make(shape, options, "ones"), 1);
}

/** A tensor filled with one value. @example full([2, 2], 0.5) */
export function full(shape: readonly number[], value: number, options?: TensorOptions): Tensor {
  if (typeof value !== "number") throw new TypeError(`full: value must be a number, got ${typeof value}`);
  return fillWith(make(shape, options, "full"), value);
}

/** A tensor of uninitialised memory (fast; every element must be written before it is read). */
export function empty(shape: readonly number[], options?: TensorOptions): Tensor {
  return make(shape, options, "empty");
}

/**
 * Evenly spaced values in [start, end).
 * @example arange(5)          // [0, 1, 2, 3, 4]
 * @example arange(1, 2, 0.25) // [1, 1.25, 1.5, 1.75]
 */
export function arange(start: number, end?: number, step = 1, options?: TensorOptions): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) throw new RangeError(`arange: step must be finite and non-zero, got ${step}`);
  const count = Math.max(0, Math.ceil((end - start) / step));
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = start + i * step;
  return fromNumbers(values, [count], options, "arange");
}

/**
 * A tensor from nested arrays or a typed array (copied).
 * @example tensor([[1, 2], [3, 4]], { requiresGrad: true })
 * @example tensor(new Float32Array(6), { shape: [2, 3] })
 */
export function tensor(data: Nested | ArrayLike<number>, options?: TensorOptions & { shape?: readonly number[] }): Tensor {
  if (typeof data === "number") return fromNumbers([data], options?.shape ?? [], options, "tensor");
  if (ArrayBuffer.isView(data)) {
    const values = data as ArrayLike<number>;
    return fromNumbers(values, options?.shape ?? [values.length], options, "tensor");
  }
  const shape: number[] = [];
  let level: Nested | ArrayLike<number> = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0] as Nested;
  }
  const flat: number[] = [];
  const visit = (v: Nested): void => {
    if (typeof v === "number") flat.push(v);
    else for (const x of v) visit(x);
  };
  visit(data as Nested);
  if (flat.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new RangeError(`tensor: nested arrays are ragged; the first row gives shape [${shape.join(", ")}]`);
  }
  return fromNumbers(flat, options?.shape ?? shape, options, "tensor");
}

function fromNumbers(values: ArrayLike<number>, shape: readonly number[], options: TensorOptions | undefined, where: string): Tensor {
  const size = checkShape(shape, where);
  if (size !== values.length) {
    throw new RangeError(`${where}: ${values.length} values do not fill shape [${shape.join(", ")}] (${size} elements)`);
  }
  const t = make(shape, options, where);
  if (t.dtype === "float32" || t.dtype === "int32") {
    (t.data as Float32Array | Int32Array).set(values);
    hostWrites()?.set(t.data, values);
  } else {
    const f32 = Float32Array.from(values);
    kernels.cast(DTYPES.float32.code, f32, DTYPES[t.dtype].code, t.data);
  }
  return t;
}

/**
 * A tensor over an existing typed array, without copying (a SharedArrayBuffer batch, say).
 * The array's element kind must match the dtype (Uint16Array for bf16/f16).
 * @example fromTypedArray(new Float32Array(sab, 0, 784), [1, 784])
 */
export function fromTypedArray(array: TypedArray, shape: readonly number[], dtype?: DType, category: MemoryCategory = "other"): Tensor {
  const resolved = dtype ?? (array instanceof Float32Array ? "float32" : array instanceof Int32Array ? "int32" : undefined);
  if (resolved === undefined) throw new TypeError("fromTypedArray: a Uint16Array needs an explicit dtype (bfloat16 or float16)");
  const info = DTYPES[resolved];
  if (!(array instanceof info.array)) throw new TypeError(`fromTypedArray: dtype ${resolved} is stored in a ${info.array.name}, got ${array.constructor.name}`);
  const size = checkShape(shape, "fromTypedArray");
  if (size !== array.length) throw new RangeError(`fromTypedArray: ${array.length} elements do not fill shape [${shape.join(", ")}]`);
  const storage = Storage.wrap(array.buffer, array.byteOffset, array.byteLength, category);
  return new Tensor(storage, array, [...shape], resolved);
}
