import { Tensor } from "../tensor/tensor.js";

/**
 * What a node keeps of a saved tensor that a packer took over: not its storage, but a way to
 * get the same elements back when the node's backward rule runs.
 */
export interface PackedTensor {
  /** A tensor with the saved tensor's shape, dtype and elements (a new handle the node then owns). */
  unpack(): Tensor;
  /** The node is done with it (its backward ran, or its graph was dropped). */
  release(): void;
}

/**
 * Decides, for each tensor an op saves for backward, whether to keep it some other way than a
 * handle on its storage (PyTorch's saved-tensor pack hook): null keeps the handle as usual.
 */
export type SavedTensorPacker = (t: Tensor) => PackedTensor | null;

let packer: SavedTensorPacker | null = null;
const packedOf = new WeakMap<Tensor, PackedTensor>();
// Packed tensors not yet released: while none is, nodes skip the lookups (the common case).
let live = 0;

/**
 * Runs fn with `pack` consulted for every tensor the ops it records save for backward. ZeRO-3
 * packs its gathered parameters, so a layer's weights are not held from its forward to its
 * backward: it gathers them again when backward needs them.
 *
 * @example
 * withSavedTensorPacker((t) => (isGathered(t) ? { unpack: () => gatherAgain(t), release: () => {} } : null), () => layer.forward(x));
 */
export function withSavedTensorPacker<T>(pack: SavedTensorPacker, fn: () => T): T {
  const outer = packer;
  packer = pack;
  try {
    return fn();
  } finally {
    packer = outer;
  }
}

/**
 * What a node keeps of a tensor its op saves: another handle on the storage, or, when the packer
 * takes it over, a meta tensor of the same shape that unpackSaved fills before backward uses it.
 */
export function saveForBackward(t: Tensor): Tensor {
  const packed = packer?.(t) ?? null;
  if (packed === null) return t.share(false);
  const placeholder = Tensor.meta(t.shape, t.dtype, t.category);
  // The node owns it; no tidy() scope may dispose it before the node is released.
  placeholder.kept = true;
  packedOf.set(placeholder, packed);
  live++;
  return placeholder;
}

/** Whether any of these saved tensors was packed (the node must unpack before backward). */
export function anyPacked(saved: readonly Tensor[]): boolean {
  return live > 0 && saved.some((t) => packedOf.has(t));
}

/** Gives every packed saved tensor its elements back (once; later calls find them realized). */
export function unpackSaved(saved: readonly Tensor[]): void {
  for (const t of saved) {
    const packed = packedOf.get(t);
    if (packed && t.isMeta) t.realize(packed.unpack());
  }
}

/** Disposes a node's saved tensor and, for a packed one, tells its packer it is no longer needed. */
export function releaseSaved(t: Tensor): void {
  t.dispose();
  if (live === 0) return;
  const packed = packedOf.get(t);
  if (!packed) return;
  packedOf.delete(t);
  live--;
  packed.release();
}
