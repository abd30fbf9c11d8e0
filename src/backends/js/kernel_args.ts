/**
 * Argument reading the compute kernels share on top of Args: a meta array's fields by name, an
 * optional f32 operand (null or undefined for absent, as native's is_null), and numbers shown as
 * native's messages show them.
 */
import type { Args } from "./args.js";
import { DTYPE } from "./dtype.js";

/**
 * The fields of a packed Int32Array meta by name, `fields` giving each name's index (the meta
 * must hold every index), so kernels never read a field by a bare position.
 *
 * @example
 * readMeta(new Args("matmul"), meta, MATMUL_META).k; // meta[4]
 */
export function readMeta<F extends Record<string, number>>(args: Args, meta: unknown, fields: F): Record<keyof F, number> {
  const entries = Object.entries(fields);
  const m = args.ints("meta", meta, Math.max(...entries.map(([, i]) => i)) + 1);
  return Object.fromEntries(entries.map(([name, i]) => [name, m[i]!])) as Record<keyof F, number>;
}

/**
 * `array` checked to be a Float32Array of `count` elements, or null when absent.
 *
 * @example
 * const bias = optionalF32(new Args("conv2d"), "bias", null, 4); // null
 */
export function optionalF32(args: Args, name: string, array: Float32Array | null | undefined, count: number): Float32Array | null {
  if (array === null || array === undefined) return null;
  args.sized(name, array, DTYPE.float32, count);
  return array;
}

/**
 * A number as C's %g writes the non-finite ones ("nan", "inf", "-inf"), so messages read as
 * native's do.
 *
 * @example
 * cNumber(NaN); // "nan"
 */
export function cNumber(v: number): string {
  return Number.isNaN(v) ? "nan" : v === Infinity ? "inf" : v === -Infinity ? "-inf" : String(v);
}
