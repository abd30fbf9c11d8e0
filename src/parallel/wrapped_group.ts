import type { Tensor } from "../tensor/tensor.js";
import type { BackendName, CollectiveOptions, ProcessGroup, ReduceOp, Work } from "./process_group.js";

/** The collectives of a ProcessGroup, by method name. */
export type CollectiveKind = "allReduce" | "reduceScatter" | "allGather" | "allToAll" | "broadcast" | "send" | "recv" | "barrier";

/**
 * A ProcessGroup that runs every collective on `inner` through one method, `around`, given the
 * collective's kind and this rank's input tensor (an all-reduce's tensor, a reduce-scatter's or
 * all-gather's input; none for a barrier): the base of groups that watch the collectives
 * (CountingGroup counts them, the profiler's TracingGroup times them). Sub-groups are wrapped by
 * `wrapSub`.
 *
 * @example
 * class Logged extends WrappedGroup {
 *   protected around(kind: CollectiveKind, input: Tensor | null, call: () => Work): Work { console.log(kind); return call(); }
 *   protected wrapSub(sub: ProcessGroup): ProcessGroup { return new Logged(sub); }
 * }
 */
export abstract class WrappedGroup implements ProcessGroup {
  readonly communicationBuffer?: ProcessGroup["communicationBuffer"];
  /** The inner group's (point-to-point messages are not collectives: a wrapper leaves them as they are). */
  readonly peerChannel?: ProcessGroup["peerChannel"];

  constructor(readonly inner: ProcessGroup) {
    if (inner.communicationBuffer) this.communicationBuffer = inner.communicationBuffer.bind(inner);
    if (inner.peerChannel) this.peerChannel = inner.peerChannel.bind(inner);
  }

  /** Runs one collective (`call`), returning its Work or one standing for it. */
  protected abstract around(kind: CollectiveKind, input: Tensor | null, call: () => Work): Work;
  /** The wrapper of a sub-group made from this one. */
  protected abstract wrapSub(sub: ProcessGroup): ProcessGroup;

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
    return this.around("allReduce", tensor, () => this.inner.allReduce(tensor, op, options));
  }
  reduceScatter(output: Tensor, input: Tensor, op?: ReduceOp, options?: CollectiveOptions): Work {
    return this.around("reduceScatter", input, () => this.inner.reduceScatter(output, input, op, options));
  }
  allGather(output: Tensor, input: Tensor, options?: CollectiveOptions): Work {
    return this.around("allGather", input, () => this.inner.allGather(output, input, options));
  }
  allToAll(output: Tensor, input: Tensor, outputSplits?: readonly number[], inputSplits?: readonly number[], options?: CollectiveOptions): Work {
    return this.around("allToAll", input, () => this.inner.allToAll(output, input, outputSplits, inputSplits, options));
  }
  broadcast(tensor: Tensor, root: number, options?: CollectiveOptions): Work {
    return this.around("broadcast", tensor, () => this.inner.broadcast(tensor, root, options));
  }
  send(tensor: Tensor, peer: number, tag?: number, options?: CollectiveOptions): Work {
    return this.around("send", tensor, () => this.inner.send(tensor, peer, tag, options));
  }
  recv(tensor: Tensor, peer: number, tag?: number, options?: CollectiveOptions): Work {
    return this.around("recv", tensor, () => this.inner.recv(tensor, peer, tag, options));
  }
  barrier(options?: CollectiveOptions): Work {
    return this.around("barrier", null, () => this.inner.barrier(options));
  }
  newGroup(ranks: number[]): ProcessGroup | null {
    const sub = this.inner.newGroup(ranks);
    return sub && this.wrapSub(sub);
  }
  destroy(): void {
    this.inner.destroy();
  }
}
