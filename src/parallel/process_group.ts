import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import type { PeerChannel } from "./peer_channel.js";

/** How a collective combines the ranks' values. */
export type ReduceOp = "sum" | "mean" | "max";

/** The collective-communication backends. */
export type BackendName = "threads" | "mpi";

/**
 * An operation in flight. `wait()` blocks the calling thread until the operation is complete
 * (its output tensors then hold the result) or its timeout passes, which throws a
 * `CollectiveError`. Waiting twice is harmless.
 *
 * @example
 * const work = group.allReduce(grad, "mean", { async: true });
 * // ... more backward ...
 * work.wait();
 */
export interface Work {
  /** Blocks until done; throws CollectiveError on timeout, a dead peer or a mismatch. */
  wait(): void;
  /** True once the result is in place (never blocks). */
  isCompleted(): boolean;
}

/** Options shared by every collective. */
export interface CollectiveOptions {
  /** Return at once with the operation in flight (default false: the call waits). */
  async?: boolean;
}

/**
 * The ranks of a job and the collectives between them. Every rank calls the same collectives
 * in the same order with tensors of the same shape and dtype; each call runs synchronously
 * unless `{ async: true }`, and every wait is bounded by the group's timeout.
 *
 * @example
 * const group = await initProcessGroup();          // from the launcher's environment
 * group.allReduce(grad, "mean");                     // in place, on every rank
 * group.broadcast(weights, 0);                       // rank 0's values everywhere
 */
export interface ProcessGroup {
  readonly backend: BackendName;
  /** This rank, 0 ≤ rank < size. */
  readonly rank: number;
  /** Ranks in the group. */
  readonly size: number;
  /** Milliseconds any wait may take before it fails with a CollectiveError. */
  readonly timeoutMs: number;

  /** Combines `tensor` across ranks, in place. */
  allReduce(tensor: Tensor, op?: ReduceOp, options?: CollectiveOptions): Work;
  /** Reduces `input` (size × output.size elements) across ranks; rank r keeps chunk r in `output`. */
  reduceScatter(output: Tensor, input: Tensor, op?: ReduceOp, options?: CollectiveOptions): Work;
  /** Concatenates every rank's `input` in rank order into `output` (size × input.size elements). */
  allGather(output: Tensor, input: Tensor, options?: CollectiveOptions): Work;
  /**
   * Sends segment d of `input` to rank d and receives rank s's segment for this rank into
   * segment s of `output` (PyTorch's all_to_all_single). Split sizes are in elements, one per
   * rank (equal splits when omitted); they are exchanged and checked on every rank before any
   * data moves, so ranks that disagree all fail with a CollectiveError instead of hanging.
   * @example group.allToAll(out, tokens, [3, 5], [4, 4]); // rank 0: 4 to each, 3 from 0, 5 from 1
   */
  allToAll(output: Tensor, input: Tensor, outputSplits?: readonly number[], inputSplits?: readonly number[], options?: CollectiveOptions): Work;
  /** Copies `root`'s `tensor` into every other rank's `tensor`. */
  broadcast(tensor: Tensor, root: number, options?: CollectiveOptions): Work;
  /** Sends `tensor` to rank `peer` (matched by a `recv` there with the same tag). */
  send(tensor: Tensor, peer: number, tag?: number, options?: CollectiveOptions): Work;
  /** Receives into `tensor` from rank `peer`. */
  recv(tensor: Tensor, peer: number, tag?: number, options?: CollectiveOptions): Work;
  /** Returns when every rank has reached it. */
  barrier(options?: CollectiveOptions): Work;
  /**
   * A group of some of these ranks (a collective call on every rank of this group, as in
   * PyTorch): members get the sub-group, with ranks renumbered in the order given; others get null.
   */
  newGroup(ranks: number[]): ProcessGroup | null;
  /**
   * Optional: a tensor the backend communicates from fastest (the threads backend's shared
   * memory, read by peers in place). DDP allocates its gradient buckets with it when present.
   */
  communicationBuffer?(shape: readonly number[], dtype: DType): Tensor;
  /**
   * Optional: point-to-point messages for a rank serving many peers (a parameter server), which
   * polls its mailboxes and outlives a peer's failure (the threads backend has it; mpi not yet).
   */
  peerChannel?(): PeerChannel;
  /** Frees the group's resources; later calls fail. */
  destroy(): void;
}

/**
 * A collective that could not complete: a timeout, a dead peer, or ranks that disagree on the
 * call. The message names the operation, this rank and the peer at fault when it is known.
 */
export class CollectiveError extends Error {
  constructor(
    readonly op: string,
    readonly rank: number,
    readonly peer: number | null,
    detail: string,
  ) {
    super(`${op} on rank ${rank}${peer === null ? "" : ` (peer rank ${peer})`}: ${detail}`);
    this.name = "CollectiveError";
  }
}
