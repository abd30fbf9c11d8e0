import { DTYPES } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import type { ProcessGroup, Work } from "./process_group.js";
import { type CollectiveKind, WrappedGroup } from "./wrapped_group.js";

/** Calls of one collective and the bytes this rank put into them. */
export interface CollectiveCount {
  calls: number;
  bytes: number;
}

/** The collectives a CountingGroup counts. */
export type CountedOp = CollectiveKind;

/**
 * A ProcessGroup that counts, per collective, the calls and the bytes of this rank's input (an
 * all-reduce's tensor, a reduce-scatter's or all-gather's input), then runs them on `inner`. For
 * checking a parallel layout's communication against its analysis (Megatron's two all-reduces
 * per layer forward and two backward) and for profiling. Sub-groups made from it count into
 * their own CountingGroup.
 *
 * @example
 * const tp = new parallel.CountingGroup(group);
 * model.loss(x, y).backward();
 * tp.counts.allReduce   // { calls: 10, bytes: 40960 }
 */
export class CountingGroup extends WrappedGroup {
  readonly counts: Record<CountedOp, CollectiveCount> = CountingGroup.zero();

  private static zero(): Record<CountedOp, CollectiveCount> {
    const ops: CountedOp[] = ["allReduce", "reduceScatter", "allGather", "allToAll", "broadcast", "send", "recv", "barrier"];
    return Object.fromEntries(ops.map((op) => [op, { calls: 0, bytes: 0 }])) as Record<CountedOp, CollectiveCount>;
  }

  /** Sets every count back to zero. */
  reset(): void {
    Object.assign(this.counts, CountingGroup.zero());
  }

  protected around(kind: CollectiveKind, input: Tensor | null, call: () => Work): Work {
    this.counts[kind].calls++;
    if (input) this.counts[kind].bytes += input.size * DTYPES[input.dtype].bytes;
    return call();
  }

  protected wrapSub(sub: ProcessGroup): ProcessGroup {
    return new CountingGroup(sub);
  }
}
