import { kernels } from "../../backends/index.js";
import type { ProcessGroup } from "../process_group.js";
import { gatherArrays } from "./gather.js";
import { type CommunicationHook, floatElements, type GradientBucket, OVERFLOW_FLAG_BYTES, residualOf, sendOverflowWhole } from "./hook.js";

/**
 * 1-bit compression with error feedback (1-bit SGD, the compressed stage of DeepSpeed's 1-bit
 * Adam): each rank adds its residual, sends the signs packed 32 to a word and one scale per
 * bucket, ‖g‖₂/√n as DeepSpeed's (4n bytes become n/8 + 4), and keeps g − scale·sign(g) as the
 * next residual; a zero counts as positive. The bucket then holds the mean over the ranks of
 * scale·sign. The signs travel in an all-gather, so each rank decompresses every peer's.
 *
 * @example new DistributedDataParallel(model, group, { hook: new OneBitHook() });
 */
export class OneBitHook implements CommunicationHook {
  readonly kind = "onebit";
  private readonly residuals = new Map<number, Float32Array>();

  reduce(bucket: GradientBucket, group: ProcessGroup): number {
    const values = floatElements(bucket, this.kind);
    const sent = sendOverflowWhole(bucket, values, group);
    if (sent !== null) return sent;
    const residual = residualOf(this.residuals, bucket, values.length);
    const words = Math.ceil(values.length / 32),
      signs = new Int32Array(words);
    // Native: the same arithmetic as JavaScript loops, ~10× faster on a gpt's 3.2M gradients.
    const scale = kernels.onebitPack(values, residual, signs);
    const allSigns = gatherArrays(group, signs, "int32"),
      allScales = gatherArrays(group, new Float32Array([scale]), "float32");
    kernels.onebitUnpack(
      values,
      allSigns,
      Float64Array.from(allScales, (s) => s / group.size),
    );
    return OVERFLOW_FLAG_BYTES + 4 * words + 4;
  }
}
