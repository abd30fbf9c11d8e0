import { fromTypedArray, zeros } from "../../tensor/create.js";
import { DTYPES } from "../../tensor/dtype.js";
import type { Tensor } from "../../tensor/tensor.js";
import { checkSplitMatrix, offsetsOf, resolveSplits } from "../all_to_all_splits.js";
import { CollectiveError, type CollectiveOptions, type ProcessGroup, type ReduceOp, type Work } from "../process_group.js";
import type { MpiAddon } from "./addon.js";
import type { Liveness } from "./liveness.js";

/** The MPI tag of allToAll's point-to-point messages (apart from users' small tags). */
const ALL_TO_ALL_TAG = 0x7a11;

const REDUCE_CODES: Record<ReduceOp, number> = { sum: 0, mean: 1, max: 2 };

/** Parts of a wait's timeout after each of which the ranks' liveness is noted. */
const WATCH_SLICES = 8;

/** One MPI request; wait() polls it against the group's deadline. */
class MpiWork implements Work {
  private finished = false;
  /** Why it failed; a second wait() throws it again at once. */
  private error: CollectiveError | null = null;

  constructor(
    private readonly group: MpiProcessGroup,
    private readonly request: number,
    private readonly op: string,
    private readonly peer: number | null,
    /** Held so the buffers stay reachable while MPI writes into them. */
    readonly tensors: readonly Tensor[],
  ) {}

  wait(): void {
    if (this.error !== null) throw this.error;
    if (this.finished) return;
    const { rank, timeoutMs } = this.group;
    if (!this.waitWatching()) {
      const dead = this.group.firstDead();
      const error = new CollectiveError(
        this.op,
        rank,
        dead ?? this.peer,
        dead !== null
          ? `timed out after ${timeoutMs} ms: rank ${dead} died (its process is gone)`
          : this.peer === null
            ? `timed out after ${timeoutMs} ms: a rank of the group did not take part (it stalled, called a different collective, or died on another machine)`
            : `timed out after ${timeoutMs} ms waiting for rank ${this.peer}`,
      );
      this.error = error;
      this.group.fail(error);
      throw error;
    }
    this.complete();
  }

  /**
   * Waits for the request up to the group's timeout in WATCH_SLICES parts, noting after each
   * part which ranks are dead: a survivor that times out names the rank that died first, not a
   * neighbour that has just exited after its own timeout. True when the request finished.
   */
  private waitWatching(): boolean {
    const { mpi, timeoutMs } = this.group;
    const deadline = performance.now() + timeoutMs,
      slice = timeoutMs / WATCH_SLICES;
    for (;;) {
      const left = deadline - performance.now();
      if (mpi.wait(this.request, Math.max(0, Math.min(slice, left)))) return true;
      if (left <= slice) return false;
      this.group.watchLiveness();
    }
  }

  isCompleted(): boolean {
    if (!this.finished && this.group.mpi.test(this.request)) this.complete();
    return this.finished;
  }

  private complete(): void {
    this.finished = true;
    this.group.pending.delete(this);
    const failure = this.group.mpi.take(this.request);
    if (failure !== null) {
      const error = new CollectiveError(this.op, this.group.rank, this.peer, `MPI failed: ${failure}`);
      this.error = error;
      this.group.fail(error);
      throw error;
    }
  }
}

/**
 * A ProcessGroup over one MPI communicator. Every collective starts a non-blocking MPI call
 * (MPI_Iallreduce, MPI_Ireduce_scatter_block, ...) that a native thread keeps progressing, so
 * `{ async: true }` overlaps with computation; waits poll with a deadline and never hang.
 * After a timeout the group is failed: later calls throw at once, since the ranks disagree on
 * what was called.
 *
 * @example
 * const group = initMpiProcessGroup();
 * const work = group.allReduce(grad, "mean", { async: true });
 * work.wait();
 */
export class MpiProcessGroup implements ProcessGroup {
  readonly backend = "mpi" as const;
  /** Requests in flight (kept reachable, with their tensors, until they finish). */
  readonly pending = new Set<MpiWork>();
  private failure: CollectiveError | null = null;
  destroyed = false;

  constructor(
    readonly mpi: MpiAddon,
    private readonly comm: number,
    readonly rank: number,
    readonly size: number,
    readonly timeoutMs: number,
    private readonly liveness: Liveness,
    /** World rank of each rank of this group. */
    private readonly worldRanks: readonly number[],
  ) {}

  allReduce(tensor: Tensor, op: ReduceOp = "sum", options?: CollectiveOptions): Work {
    return this.run("allReduce", null, [tensor], options, (c, a) => this.mpi.allReduce(c, tensor.toHost(), code(tensor), reduceCode(op), a));
  }

  reduceScatter(output: Tensor, input: Tensor, op: ReduceOp = "sum", options?: CollectiveOptions): Work {
    sameDType("reduceScatter", output, input);
    return this.run("reduceScatter", null, [output, input], options, (c, a) =>
      this.mpi.reduceScatter(c, output.toHost(), input.toHost(), code(output), reduceCode(op), a),
    );
  }

  allGather(output: Tensor, input: Tensor, options?: CollectiveOptions): Work {
    sameDType("allGather", output, input);
    return this.run("allGather", null, [output, input], options, (c, a) => this.mpi.allGather(c, output.toHost(), input.toHost(), code(output), a));
  }

  broadcast(tensor: Tensor, root: number, options?: CollectiveOptions): Work {
    return this.run("broadcast", root === this.rank ? null : root, [tensor], options, (c, a) => this.mpi.broadcast(c, tensor.toHost(), code(tensor), root, a));
  }

  /**
   * In TypeScript over this group's own collectives (the addon has no MPI_Alltoallv): an
   * all-gather of every rank's split sizes, checked on every rank, then a non-blocking send and
   * receive per peer with a non-empty segment. Synchronous even when `async` is asked.
   */
  allToAll(output: Tensor, input: Tensor, outputSplits?: readonly number[], inputSplits?: readonly number[], _options?: CollectiveOptions): Work {
    sameDType("allToAll", output, input);
    const n = this.size,
      sendSplits = resolveSplits("allToAll", "inputSplits", input, n, inputSplits),
      recvSplits = resolveSplits("allToAll", "outputSplits", output, n, outputSplits);
    const mine = fromTypedArray(Int32Array.from([...sendSplits, ...recvSplits]), [2 * n], "int32"),
      all = zeros([n, 2 * n], { dtype: "int32" });
    this.allGather(all, mine);
    const matrix = Array.from({ length: n }, (_, s) => Array.from(all.toHost().subarray(s * 2 * n, (s + 1) * 2 * n)));
    checkSplitMatrix(
      "allToAll",
      this.rank,
      matrix.map((m) => m.slice(0, n)),
      matrix.map((m) => m.slice(n)),
    );
    const segment = (t: Tensor, at: number, len: number): Tensor => fromTypedArray(t.toHost().subarray(at, at + len), [len], t.dtype);
    const sendAt = offsetsOf(sendSplits),
      recvAt = offsetsOf(recvSplits),
      works: Work[] = [];
    for (let s = 0; s < n; s++) if (recvSplits[s]! > 0) works.push(this.recv(segment(output, recvAt[s]!, recvSplits[s]!), s, ALL_TO_ALL_TAG, { async: true }));
    for (let d = 0; d < n; d++) if (sendSplits[d]! > 0) works.push(this.send(segment(input, sendAt[d]!, sendSplits[d]!), d, ALL_TO_ALL_TAG, { async: true }));
    for (const w of works) w.wait();
    return { wait: () => {}, isCompleted: () => true };
  }

  send(tensor: Tensor, peer: number, tag = 0, options?: CollectiveOptions): Work {
    return this.run("send", peer, [tensor], options, (c, a) => this.mpi.send(c, tensor.toHost(), code(tensor), peer, tag, a));
  }

  recv(tensor: Tensor, peer: number, tag = 0, options?: CollectiveOptions): Work {
    return this.run("recv", peer, [tensor], options, (c, a) => this.mpi.recv(c, tensor.toHost(), code(tensor), peer, tag, a));
  }

  barrier(options?: CollectiveOptions): Work {
    return this.run("barrier", null, [], options, (c, a) => this.mpi.barrier(c, a));
  }

  newGroup(ranks: number[]): ProcessGroup | null {
    const seen = new Set<number>();
    for (const r of ranks) {
      if (!Number.isInteger(r) || r < 0 || r >= this.size || seen.has(r))
        throw new RangeError(`newGroup: ranks ${JSON.stringify(ranks)} must be distinct integers in 0..${this.size - 1}`);
      seen.add(r);
    }
    // MPI_Comm_split blocks; a bounded barrier first turns a missing rank into an error.
    this.barrier();
    const key = ranks.indexOf(this.rank);
    const comm = this.mpi.split(this.comm, key < 0 ? -1 : 0, key);
    if (comm < 0) return null;
    return new MpiProcessGroup(
      this.mpi,
      comm,
      key,
      ranks.length,
      this.timeoutMs,
      this.liveness,
      ranks.map((r) => this.worldRanks[r]!),
    );
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    // A communicator with a request stuck in flight cannot be freed safely; it is left to exit.
    if (this.pending.size === 0) this.mpi.free(this.comm);
  }

  /** The rank of this group whose process was first seen gone (checked once more now), if any. */
  firstDead(): number | null {
    return this.liveness.firstDead(this.worldRanks);
  }

  /** Notes which ranks of this group are dead now (see Liveness.watch). */
  watchLiveness(): void {
    this.liveness.watch(this.worldRanks);
  }

  /** Marks the group failed with `error` (a timeout or an MPI error). */
  fail(error: CollectiveError): void {
    this.failure ??= error;
  }

  private run(
    op: string,
    peer: number | null,
    tensors: Tensor[],
    options: CollectiveOptions | undefined,
    start: (comm: number, async: boolean) => number,
  ): Work {
    if (this.destroyed) throw new CollectiveError(op, this.rank, null, "the group was destroyed");
    if (this.failure !== null) throw new CollectiveError(op, this.rank, this.failure.peer, `the group failed earlier: ${this.failure.message}`);
    const async = options?.async === true;
    const work = new MpiWork(this, start(this.comm, async), op, peer, tensors);
    this.pending.add(work);
    if (!async) work.wait();
    return work;
  }
}

function code(t: Tensor): number {
  return DTYPES[t.dtype].code;
}

function reduceCode(op: ReduceOp): number {
  const c = REDUCE_CODES[op];
  if (c === undefined) throw new RangeError(`mpi: unknown reduce op ${JSON.stringify(op)}; expected sum, mean or max`);
  return c;
}

function sameDType(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) throw new TypeError(`${op}: output is ${a.dtype} but input is ${b.dtype}`);
}
