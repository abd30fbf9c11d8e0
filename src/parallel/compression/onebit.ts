import type { ProcessGroup } from "../process_group.js";
import { gatherArrays } from "./gather.js";
import { type CommunicationHook, type GradientBucket, OVERFLOW_FLAG_BYTES, withFeedback } from "./hook.js";

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
    const input = withFeedback(this.kind, this.residuals, bucket, group);
    if ("sent" in input) return input.sent;
    const { values, residual } = input,
      n = values.length;
    let squares = 0;
    for (let i = 0; i < n; i++) squares += residual[i]! * residual[i]!;
    const scale = Math.fround(Math.sqrt(squares / n)),
      words = Math.ceil(n / 32),
      signs = new Int32Array(words);
    for (let i = 0; i < n; i++) {
      const positive = residual[i]! >= 0;
      if (positive) signs[i >>> 5]! |= 1 << (i & 31);
      residual[i]! -= positive ? scale : -scale;
    }
    const allSigns = gatherArrays(group, signs, "int32"),
      allScales = gatherArrays(group, new Float32Array([scale]), "float32");
    values.fill(0);
    for (let r = 0; r < group.size; r++) {
      const s = allScales[r]! / group.size,
        base = r * words;
      for (let i = 0; i < n; i++) values[i]! += (allSigns[base + (i >>> 5)]! >>> (i & 31)) & 1 ? s : -s;
    }
    return OVERFLOW_FLAG_BYTES + 4 * words + 4;
  }
}
