import { apply1 } from "../../autograd/op.js";
import { dropout, dropoutOp } from "../../ops/dropout.js";
import { defaultGenerator } from "../../tensor/random.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";

/** Random draws come in Philox blocks of 4 (random.ts): a chunk must start on a block. */
const DRAWS_PER_BLOCK = 4;

/**
 * Dropout of this rank's chunk of rows under sequence parallelism: every rank reserves the
 * draws of the whole tensor (so the generators stay in step across the group, as the replicated
 * regions need) and drops with the counters of its own chunk, so the ranks' masks differ, as
 * Megatron's do there, and together are exactly the mask one process draws for the full tensor.
 * @example const y = sequenceParallelDropout(chunk, 0.1, model.training, tp);   // chunk r of [B·T, D]
 */
export function sequenceParallelDropout(x: Tensor, p: number, training: boolean, group: ProcessGroup): Tensor {
  if (p === 0 || !training) return dropout(x, p, training);
  if (x.size % DRAWS_PER_BLOCK !== 0) {
    throw new RangeError(
      `sequenceParallelDropout: a chunk of ${x.size} elements does not start on a block of ${DRAWS_PER_BLOCK} draws; make rows × width a multiple of 4`,
    );
  }
  // Checked as dropout() checks it, since the op is applied directly.
  if (!(p >= 0 && p <= 1)) throw new RangeError(`sequenceParallelDropout: p must be a probability in [0, 1], got ${p}`);
  const { seed, offset } = defaultGenerator().reserve(x.size * group.size);
  return apply1(dropoutOp, [x], { p, seed, offset: offset + (group.rank * x.size) / DRAWS_PER_BLOCK });
}
