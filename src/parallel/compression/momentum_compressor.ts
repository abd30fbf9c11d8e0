import { fromTypedArray } from "../../tensor/create.js";
import type { ProcessGroup } from "../process_group.js";
import type { CommunicationHook } from "./hook.js";

/**
 * What a frozen-variance Adam averages its momentum through: replaces `momentum` (every
 * parameter's, flat, the same layout on every rank) with its compressed mean over `group`;
 * `starts` are the parameters' first elements and `shapes` their shapes. Returns the bytes
 * this rank sent. `OneBitAllReduce` is one; `hookAsMomentumCompressor` makes one of any DDP
 * communication hook.
 *
 * @example const sent = compressor.average(momentum, group, [0, 4096], [[64, 64], [10]]);
 */
export interface MomentumCompressor {
  average(momentum: Float32Array, group: ProcessGroup, starts: readonly number[], shapes: readonly (readonly number[])[]): number;
}

/**
 * A DDP communication hook (top-k, PowerSGD, bf16, 1-bit) applied to the momentum instead of a
 * gradient bucket: the whole momentum is one bucket, with each parameter's shape, so PowerSGD
 * factors each matrix and top-k's budget is the model's; the hook's error feedback then keeps
 * what it holds back of the momentum, which is linear in the gradients once the variance is
 * frozen.
 *
 * @example new FrozenVarianceAdam(model.parameters(), { freezeStep: 20, compressor: hookAsMomentumCompressor(new TopKHook({ ratio: 0.01 })) });
 */
export function hookAsMomentumCompressor(hook: CommunicationHook): MomentumCompressor {
  return {
    average(momentum, group, starts, shapes) {
      const flat = fromTypedArray(momentum, [momentum.length], "float32", "optimizer");
      try {
        return hook.reduce({ index: 0, flat, shapes, offsets: starts }, group);
      } finally {
        flat.dispose();
      }
    },
  };
}
