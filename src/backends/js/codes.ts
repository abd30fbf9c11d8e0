/**
 * The op codes of the js kernels. They are the native addon's codes (native/unary.cc and its
 * siblings number their ops in these orders), defined here once so the js backend needs no
 * addon; a test checks the two tables are equal.
 */
import type { Kernels } from "../kernels.js";

function numbered<const T extends readonly string[]>(names: T): Record<T[number], number> {
  return Object.fromEntries(names.map((name, i) => [name, i])) as Record<T[number], number>;
}

/** Unary ops in native/unary.cc's UNARY_OPS order. */
export const UNARY_OPS = [
  "neg",
  "exp",
  "log",
  "sqrt",
  "rsqrt",
  "tanh",
  "sigmoid",
  "relu",
  "gelu_tanh",
  "gelu_erf",
  "abs",
  "sign",
  "square",
  "reciprocal",
  "scale",
  "shift",
  "pow",
  "clamp_min",
  "fill",
] as const;

/** Unary backward rules in UNARY_BACKWARD_OPS order. */
export const UNARY_BACKWARD_OPS = [
  "relu",
  "gelu_tanh",
  "gelu_erf",
  "tanh",
  "sigmoid",
  "exp",
  "log",
  "sqrt",
  "rsqrt",
  "abs",
  "square",
  "reciprocal",
  "pow",
  "clamp_min",
] as const;

/** Binary ops in native/binary.cc's BINARY_OPS order. */
export const BINARY_OPS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge"] as const;

export const REDUCE_OPS = ["sum", "mean", "max", "min"] as const;

export const COLLECTIVE_OPS = ["sum", "max"] as const;

const UNARY = numbered(UNARY_OPS);
const UNARY_BACKWARD = numbered(UNARY_BACKWARD_OPS);
const BINARY = numbered(BINARY_OPS);
const REDUCE = numbered(REDUCE_OPS);
const COLLECTIVE = numbered(COLLECTIVE_OPS);

/** Codes of the unary kernels, as the interface's `unaryCodes`. @example unaryCodes().forward.relu; // 7 */
export const unaryCodes: Kernels["unaryCodes"] = () => ({ forward: { ...UNARY }, backward: { ...UNARY_BACKWARD } });

/** Codes of the binary kernel. @example binaryCodes().mul; // 2 */
export const binaryCodes: Kernels["binaryCodes"] = () => ({ ...BINARY });

/** Codes of the reduce kernel. @example reduceCodes().max; // 2 */
export const reduceCodes: Kernels["reduceCodes"] = () => ({ ...REDUCE });

/** Codes of collectiveReduce. @example collectiveCodes().max; // 1 */
export const collectiveCodes: Kernels["collectiveCodes"] = () => ({ ...COLLECTIVE });
