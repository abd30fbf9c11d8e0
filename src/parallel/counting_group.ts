import { type DType, DTYPES } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import type { BackendName, CollectiveOptions, ProcessGroup, ReduceOp, Work } from "./process_group.js";

/** Calls of one collective and the bytes this rank put into them. */
export interface CollectiveCount {
  calls: number;
  bytes: number;
}

/** The collectives a CountingGroup counts. */
export type CountedOp = "allReduce" | "reduceScatter" | "allGather" | "allToAll" | "broadcast" | "send" | "recv" | "barrier";

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
export class CountingGroup implements ProcessGroup {
  readonly counts: Record<CountedOp, CollectiveCount> = CountingGroup.zero();
  readonly communicationBuffer?: (shape: readonly number[], dtype: DType) => Tensor;

  constructor(readonly inner: ProcessGroup) {
    if (inner.communicationBuffer) this.communicationBuffer = inner.communicationBuffer.bind(inner);
  }

  private static zero(): Record<CountedOp, CollectiveCount> {
    const ops: CountedOp[] = ["allReduce", "reduceScatter", "allGather", "allToAll", "broadcast", "send", "recv", "barrier"];
    return Object.fromEntries(ops.map((op) => [op, { calls: 0, bytes: 0 }])) as Record<CountedOp, CollectiveCount>;
  }

  /** Sets every count back to zero. */
  reset(): void {
    Object.assign(this.counts, CountingGroup.zero());
  }

  private count(op: CountedOp, t: Tensor | null): void {
    this.counts[op].calls++;
    if (t) this.counts[op].bytes += t.size * DTYPES[t.dtype].bytes;
  }

  get backend(): BackendName {
    return this.inner.backend;
  }
  get rank(): number {
    return this.inner.rank;
  }
  get size(): number {
    return this.inner.size;
  }
  get timeoutMs(): number {
    return this.inner.timeoutMs;
  }

  allReduce(tensor: Tensor, op?: ReduceOp, options?: CollectiveOptions): Work {
    this.count("allReduce", tensor);
    return this.inner.allReduce(tensor, op, options);
  }
  reduceScatter(output: Tensor, input: Tensor, op?: ReduceOp, options?: CollectiveOptions): Work {
    this.count("reduceScatter", input);
    return this.inner.reduceScatter(output, input, op, options);
  }
  allGather(output: Tensor, input: Tensor, options?: CollectiveOptions): Work {
    this.count("allGather", input);
    return this.inner.allGather(output, input, options);
  }
  allToAll(output: Tensor, input: Tensor, outputSplits?: readonly number[], inputSplits?: readonly number[], options?: CollectiveOptions): Work {
    this.count("allToAll", input);
    return this.inner.allToAll(output, input, outputSplits, inputSplits, options);
  }
  broadcast(tensor: Tensor, root: number, options?: CollectiveOptions): Work {
    this.count("broadcast", tensor);
    return this.inner.broadcast(tensor, root, options);
  }
  send(tensor: Tensor, peer: number, tag?: number, options?: CollectiveOptions): Work {
    this.count("send", tensor);
    return this.inner.send(tensor, peer, tag, options);
  }
  recv(tensor: Tensor, peer: number, tag?: number, options?: CollectiveOptions): Work {
    this.count("recv", tensor);
    return this.inner.recv(tensor, peer, tag, options);
  }
  barrier(options?: CollectiveOptions): Work {
    this.count("barrier", null);
    return this.inner.barrier(options);
  }
  newGroup(ranks: number[]): ProcessGroup | null {
    const sub = this.inner.newGroup(ranks);
    return sub && new CountingGroup(sub);
  }
  destroy(): void {
    this.inner.destroy();
  }
}
