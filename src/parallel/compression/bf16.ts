import { kernels } from "../../backends/index.js";
import { DTYPES } from "../../tensor/dtype.js";
import { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";
import { type CommunicationHook, floatElements, type GradientBucket } from "./hook.js";

/**
 * PyTorch's bf16_compress_hook: the bucket is cast to bfloat16, all-reduced (mean) at that
 * precision and cast back, so half the bytes go over the wire. No error feedback: the rounding
 * error of bf16 (8 bits of mantissa) is unbiased and small next to the gradient noise.
 *
 * @example new DistributedDataParallel(model, group, { hook: new Bf16Hook() });
 */
export class Bf16Hook implements CommunicationHook {
  readonly kind = "bf16";

  reduce(bucket: GradientBucket, group: ProcessGroup): number {
    const values = floatElements(bucket, this.kind);
    const low = Tensor.empty([values.length], "bfloat16", "gradient");
    try {
      kernels.cast(DTYPES.float32.code, values, DTYPES.bfloat16.code, low.toHost());
      group.allReduce(low, "mean").wait();
      kernels.cast(DTYPES.bfloat16.code, low.toHost(), DTYPES.float32.code, values);
      return low.size * DTYPES.bfloat16.bytes;
    } finally {
      low.dispose();
    }
  }
}
