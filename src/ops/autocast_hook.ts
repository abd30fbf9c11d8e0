import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import type { OpName } from "./registry.js";

/**
 * Where ops meet mixed precision. apply() (src/autograd/op.ts) asks this hook for the inputs an
 * op runs on; src/amp installs the policy behind it (each op's rule from the op table, the
 * per-scope weight-cast cache), so the layers stay ordered. Outside an autocast scope apply()
 * pays one flag check (`autocastActive`).
 */

/** What an op's floating inputs become in an autocast scope (src/ops/registry.ts explains each). */
export type CastPolicy = "low" | "f32" | "promote";

/** The inputs an op should run on, and which of them were made for this one call. */
export interface AutocastInputs {
  inputs: Tensor[];
  /** Casts the caller disposes after the op ran (its node keeps what backward needs). */
  temporaries: Tensor[];
}

/** Maps an op's floating inputs to the dtypes the active policy wants; null when nothing changes. */
export type AutocastHook = (op: OpName, inputs: readonly Tensor[]) => AutocastInputs | null;

let hook: AutocastHook | null = null;
let suspended = 0;

/** Whether a hook is installed and not suspended: apply()'s one check on its fast path. */
export let autocastActive = false;

function updateActive(): void {
  autocastActive = hook !== null && suspended === 0;
}

/** Runs fn again in the autocast state of the moment it was captured. */
export type AutocastReentry = <T>(fn: () => T) => T;
let capturer: (() => AutocastReentry | null) | null = null;

/** Installs how src/amp captures its active scope for re-entry (null removes it). */
export function setAutocastCapturer(next: (() => AutocastReentry | null) | null): void {
  capturer = next;
}

/**
 * The autocast state of this moment as a function that re-enters it, or null when autocast is
 * off: checkpoint's recomputation, which runs inside backward (where autocast is suspended),
 * must compute in the precision its forward used.
 * @example const reenter = captureAutocast(); ... (reenter ?? ((f) => f()))(() => fn(...inputs));
 */
export function captureAutocast(): AutocastReentry | null {
  if (hook === null || suspended > 0 || capturer === null) return null;
  return capturer();
}

/** Runs fn with a suspension by withoutAutocast lifted (for a captured re-entry). */
export function resumingAutocast<T>(fn: () => T): T {
  const saved = suspended;
  suspended = 0;
  updateActive();
  try {
    return fn();
  } finally {
    suspended = saved;
    updateActive();
  }
}

let lowDTypeOf: ((op: OpName) => DType | null) | null = null;

/** Installs how src/amp tells the dtype of an op's low-precision computation (null removes it). */
export function setAutocastLowDType(next: ((op: OpName) => DType | null) | null): void {
  lowDTypeOf = next;
}

/**
 * The dtype the active policy computes op in when that is a low precision, else null
 * (autocast off or suspended, or op not a low-precision op). For ops that keep a float32
 * parameter as their input and compute with its low-precision copy (linear).
 * @example autocastLowDType("linear")   // "bfloat16" inside autocast({ dtype: "bfloat16" })
 */
export function autocastLowDType(op: OpName): DType | null {
  if (hook === null || suspended > 0 || lowDTypeOf === null) return null;
  return lowDTypeOf(op);
}

/** Installs the policy hook (null removes it); returns the previous one. */
export function setAutocastHook(next: AutocastHook | null): AutocastHook | null {
  const previous = hook;
  hook = next;
  updateActive();
  return previous;
}

/**
 * Runs fn with autocast off: backward rules run in the dtypes their forward chose, as in
 * PyTorch, even when backward is called inside an autocast scope.
 * @example withoutAutocast(() => loss.backward());
 */
export function withoutAutocast<T>(fn: () => T): T {
  suspended++;
  updateActive();
  try {
    return fn();
  } finally {
    suspended--;
    updateActive();
  }
}

/**
 * The inputs `op` runs on under the active policy, or null when it changes none (or autocast is
 * off): apply()'s call for every op while `autocastActive`.
 * @example const cast = autocastInputs("matmul", [a, b]); // bfloat16 copies inside autocast()
 */
export function autocastInputs(op: OpName, inputs: readonly Tensor[]): AutocastInputs | null {
  return hook === null || suspended > 0 ? null : hook(op, inputs);
}
