import { DTYPES, type DType } from "./dtype.js";
import { kernels } from "../backends/index.js";
import { Tensor } from "./tensor.js";

/**
 * Low-precision copies of float32 parameters, kept from step to step. Autocast computes a
 * linear layer with its weight's copy; an optimizer whose fused step writes the copy while it
 * updates the parameter (Adam, AdamW) spares the next step a cast that re-reads every weight,
 * as Apex's and DeepSpeed's master-weight optimizers do.
 *
 * A copy is current while its parameter's version (Tensor.version) is the one it was made or
 * written at, so an in-place write by turbine (loadStateDict, copyInto, another optimizer)
 * makes it stale. A write through `data` is not versioned, so copies also expire when the
 * outermost autocast scope ends (expireLowCopies), as PyTorch's autocast cache does: each
 * scope casts again unless an optimizer step wrote the copy after the last scope ended.
 *
 * A pinned copy is current whatever the versions and scopes: its parameter's float32 elements
 * are not there to cast from (ZeRO-3 gathered the copy itself; an offloaded master lives in a
 * file), and only what pinned it writes either.
 */

interface LowCopy {
  tensor: Tensor;
  /** The parameter's version the copy holds, or -1 when it holds nothing yet. */
  version: number;
  /** The expiry period it was made or written in. */
  period: number;
  pinned: boolean;
}

const copies = new WeakMap<Tensor, LowCopy>();
let period = 0;

/** Makes every copy stale (autocast calls it as its outermost scope ends). @example expireLowCopies() */
export function expireLowCopies(): void {
  period++;
}

function current(entry: LowCopy, p: Tensor): boolean {
  return entry.pinned || (entry.version === p.version && entry.period === period);
}

function stamp(entry: LowCopy, p: Tensor): void {
  entry.version = p.version;
  entry.period = period;
}

/**
 * p's copy in dtype, cast again unless current.
 * @example const w = lowCopy(fc.weight, "bfloat16");
 */
export function lowCopy(p: Tensor, dtype: DType): Tensor {
  let entry = copies.get(p);
  if (entry && entry.tensor.dtype !== dtype) {
    entry.tensor.kept = false;
    entry.tensor.dispose();
    entry = undefined;
  }
  if (!entry) {
    const tensor = Tensor.empty(p.shape, dtype, "parameter");
    // Kept: it outlives every tidy() scope, as its parameter does.
    tensor.kept = true;
    entry = { tensor, version: -1, period: -1, pinned: false };
    copies.set(p, entry);
  }
  if (!current(entry, p)) {
    kernels.cast(DTYPES[p.dtype].code, p.data, DTYPES[dtype].code, entry.tensor.data);
    stamp(entry, p);
  }
  return entry.tensor;
}

/**
 * For an optimizer about to update p in place: p's bfloat16 copy to write in the same pass,
 * or null when p has none. Call copyWritten(p) once both are written.
 * @example const low = bf16CopyOf(p); kernels.adamStep(..., low && low.data); if (low) copyWritten(p);
 */
export function bf16CopyOf(p: Tensor): Tensor | null {
  const entry = copies.get(p);
  return entry && entry.tensor.dtype === "bfloat16" ? entry.tensor : null;
}

/** Records that p's copy was written with p's current version. */
export function copyWritten(p: Tensor): void {
  const entry = copies.get(p);
  if (entry) stamp(entry, p);
}

/**
 * Makes `copy` (bfloat16, p's shape) p's pinned copy, taking over the handle: ZeRO-3 gathers a
 * layer's weights as bf16 and its float32 parameter is an upcast of them, so casting it again
 * would only give the same bits. Replaces any copy p had.
 * @example adoptLowCopy(fc.weight, gatheredBf16.viewRange(0, fc.weight.shape));
 */
export function adoptLowCopy(p: Tensor, copy: Tensor): void {
  if (copy.dtype !== "bfloat16" || copy.size !== p.size)
    throw new Error(`adoptLowCopy: a bfloat16 copy of ${p.size} elements is needed, got ${copy.dtype} of ${copy.size}`);
  dropLowCopy(p);
  copy.kept = true;
  copies.set(p, { tensor: copy, version: p.version, period, pinned: true });
}

/** Forgets p's copy and frees it (a ZeRO-3 layer's gathered weights are released). @example dropLowCopy(fc.weight) */
export function dropLowCopy(p: Tensor): void {
  const entry = copies.get(p);
  if (!entry) return;
  copies.delete(p);
  entry.tensor.kept = false;
  entry.tensor.dispose();
}

/**
 * Pins p's bfloat16 copy, made now if p has none or it is stale (p must still hold its
 * elements): from here the copy is what forward computes with, and the optimizer that pinned
 * it writes it at each update (an offloaded master). Returns the copy.
 * @example pinLowCopy(fc.weight); fc.weight.unrealize();
 */
export function pinLowCopy(p: Tensor): Tensor {
  const tensor = lowCopy(p, "bfloat16");
  copies.get(p)!.pinned = true;
  return tensor;
}

/** Lets p's copy go stale again as usual (its float32 elements are back). @example unpinLowCopy(fc.weight) */
export function unpinLowCopy(p: Tensor): void {
  const entry = copies.get(p);
  if (entry) {
    entry.pinned = false;
    stamp(entry, p);
  }
}
