import type { Module } from "../../nn/module.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { PsLayout } from "./layout.js";

/**
 * One server's parameters, in the model's order, and the copies between them (or tensors of
 * their shapes: gradients) and the flat float32 run a message carries.
 * @example const shard = ShardBuffer.of(model, layout, 0); shard.gather(message.subarray(1));
 */
export class ShardBuffer {
  /** Elements of all the shard's parameters. */
  readonly elements: number;

  constructor(readonly params: readonly Tensor[]) {
    for (const p of params)
      if (p.dtype !== "float32") throw new TypeError(`parameter server: parameters must be float32, got ${p.dtype} of shape [${p.shape}]`);
    this.elements = params.reduce((n, p) => n + p.size, 0);
  }

  /** Server `server`'s share of the model's parameters under `layout`. */
  static of(model: Module, layout: PsLayout, server: number): ShardBuffer {
    return new ShardBuffer(model.parameters().filter((_, i) => layout.owner[i] === server));
  }

  /** Copies the tensors (default: the parameters; a null one reads as zeros) into `flat`, one after another. */
  gather(flat: Float32Array, from: readonly (Tensor | null)[] = this.params): void {
    let at = 0;
    this.params.forEach((p, i) => {
      const t = from[i];
      if (t) flat.set(t.toHost() as Float32Array, at);
      else flat.fill(0, at, at + p.size);
      at += p.size;
    });
  }

  /** Copies `flat` into the tensors (default: the parameters, whose versions then advance), or adds it with `add`. */
  scatter(flat: Float32Array, into: readonly Tensor[] = this.params, add = false): void {
    let at = 0;
    this.params.forEach((p, i) => {
      const target = into[i]!.toHost() as Float32Array,
        piece = flat.subarray(at, at + p.size);
      if (add) for (let j = 0; j < piece.length; j++) target[j]! += piece[j]!;
      else target.set(piece);
      if (into === this.params) p.version++;
      at += p.size;
    });
  }
}
