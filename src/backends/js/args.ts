/**
 * Argument checks of the js kernels, with the native addon's rules (native/args.cc): every
 * typed array must be of the kind that stores its dtype and hold exactly the elements the
 * kernel will touch, and every violation throws an Error that starts with the kernel's name (a
 * TypeError where the argument has the wrong JavaScript type, as native's require_type).
 */
import { DTYPE, dtypeName, type Elements } from "./dtype.js";

function arrayName(array: unknown): string {
  if (array instanceof Float32Array) return "Float32Array";
  if (array instanceof Uint16Array) return "Uint16Array";
  if (array instanceof Int32Array) return "Int32Array";
  if (array instanceof Uint8Array) return "Uint8Array";
  if (array instanceof Float64Array) return "Float64Array";
  return ArrayBuffer.isView(array) ? "another typed array" : typeof array;
}

const STORAGE = ["Float32Array", "Uint16Array", "Uint16Array", "Int32Array"] as const;

/**
 * The checks of one kernel call.
 *
 * @example
 * const args = new Args("unary");
 * const n = args.elements("x", x, dtype); // throws "unary: 'x' is a …" on a wrong array kind
 */
export class Args {
  constructor(readonly kernel: string) {}

  /** Throws `kernel: message`, as a TypeError when `typeError`. */
  fail(message: string, typeError = false): never {
    const text = `${this.kernel}: ${message}`;
    throw typeError ? new TypeError(text) : new Error(text);
  }

  require(ok: boolean, message: () => string): void {
    if (!ok) this.fail(message());
  }

  /** require() for an argument of the wrong JavaScript type: a TypeError. */
  requireType(ok: boolean, message: () => string): void {
    if (!ok) this.fail(message(), true);
  }

  integer(name: string, value: unknown): number {
    this.requireType(typeof value === "number", () => `argument '${name}' must be a number`);
    const v = value as number;
    this.require(Number.isInteger(v) && Math.abs(v) < 9.007199254740992e15, () => `argument '${name}' must be an integer, got ${v}`);
    return v;
  }

  /** The entry of `table` that an op code names; an unknown code fails with `unknown … code N`. */
  lookup<T>(table: readonly T[], code: unknown, what: string): T {
    const i = this.integer("code", code);
    return table[i] ?? this.fail(`unknown ${what} code ${i}`);
  }

  number(name: string, value: unknown): number {
    this.requireType(typeof value === "number", () => `argument '${name}' must be a number`);
    return value as number;
  }

  boolean(name: string, value: unknown): boolean {
    this.requireType(typeof value === "boolean", () => `argument '${name}' must be a boolean`);
    return value as boolean;
  }

  dtype(name: string, value: unknown): number {
    const code = this.integer(name, value);
    this.require(code >= 0 && code <= 3, () => `'${name}' is not a dtype code (0..3): ${code}`);
    return code;
  }

  floatDtype(name: string, value: unknown): number {
    const code = this.dtype(name, value);
    this.require(code !== DTYPE.int32, () => `'${name}' must be a floating dtype, got int32`);
    return code;
  }

  /** Checks that `array` is the typed array that stores `dtype` and returns its element count. */
  elements(name: string, array: unknown, dtype: number): number {
    this.requireType(ArrayBuffer.isView(array), () => `argument '${name}' must be a typed array`);
    const kind = arrayName(array);
    this.requireType(kind === STORAGE[dtype], () => `'${name}' is a ${kind}, but dtype ${dtypeName(dtype)} is stored in a ${STORAGE[dtype]}`);
    return (array as Elements).length;
  }

  /** Like `elements`, and the array must hold exactly `count` elements. */
  sized(name: string, array: unknown, dtype: number, count: number): void {
    const n = this.elements(name, array, dtype);
    this.require(count >= 0 && n === count, () => `'${name}' holds ${n} elements, expected ${count}`);
  }

  /**
   * The arguments of the row-moving kernels (native/row_lookup.h): a float dtype, a `table` of
   * rows × cols and int32 row indices, each in [0, rows) (the first outside names its flat
   * position). Returns the dtype.
   */
  rowLookup(dtype: unknown, rows: unknown, cols: unknown, indices: unknown, table: string): number {
    const dt = this.floatDtype("dtype", dtype);
    const r = this.integer("rows", rows),
      c = this.integer("cols", cols);
    this.require(r >= 0 && c >= 0, () => `${table} shape [${r}, ${c}] has a negative extent`);
    this.elements("indices", indices, DTYPE.int32);
    (indices as Int32Array).forEach((v, i) =>
      this.require(v >= 0 && v < r, () => `index ${v} at flat position ${i} is out of range [0, ${r}) for a ${table} of ${r} rows`),
    );
    return dt;
  }

  /** An Int32Array of at least `count` entries (packed shapes and strides). */
  ints(name: string, array: unknown, count: number): Int32Array {
    this.requireType(array instanceof Int32Array, () => `'${name}' must be an Int32Array`);
    const a = array as Int32Array;
    this.require(a.length >= count, () => `'${name}' holds ${a.length} entries, expected at least ${count}`);
    return a;
  }

  /** A Float64Array of at least `count` entries (an optimizer's hyperparameters). */
  doubles(name: string, array: unknown, count: number): Float64Array {
    this.requireType(array instanceof Float64Array, () => `'${name}' must be a Float64Array`);
    const a = array as Float64Array;
    this.require(a.length >= count, () => `'${name}' holds ${a.length} entries, expected at least ${count}`);
    return a;
  }

  /** The product of extents, each a non-negative integer, that must stay a safe integer. */
  numel(extents: readonly number[]): number {
    let n = 1;
    for (const e of extents) n *= e;
    this.require(
      extents.every((e) => Number.isInteger(e) && e >= 0) && Number.isSafeInteger(n),
      () => `extents [${extents.join(", ")}] must be non-negative with a representable product`,
    );
    return n;
  }
}
