import { performance } from "node:perf_hooks";

import { fromTypedArray } from "../../tensor/create.js";
import { DTYPES, type DType, type TypedArray } from "../../tensor/dtype.js";
import { codes, kernels } from "../../backends/index.js";
import { Tensor } from "../../tensor/tensor.js";
import { checkSplitMatrix, offsetsOf, resolveSplits } from "../all_to_all_splits.js";
import type { PeerChannel } from "../peer_channel.js";
import { type CollectiveOptions, CollectiveError, type ProcessGroup, type ReduceOp, type Work } from "../process_group.js";
import { bytesOf, transfer } from "./mailbox.js";
import { completedWork, WorkQueue } from "./work.js";
import { DESCRIPTOR_WORDS, type ThreadsWorld } from "./world.js";

const OPS = ["allReduce", "reduceScatter", "allGather", "broadcast", "barrier", "newGroup", "allToAll"] as const;
type CollectiveName = (typeof OPS)[number];
const REDUCE_OPS: ReduceOp[] = ["sum", "mean", "max"];

/** What a rank publishes for one piece of a collective; peers read base and stride. */
interface Call {
  dtype: number;
  count: number;
  param: number;
  piece: number;
  base: number;
  stride: number;
}

/** Chunk boundaries of len elements over n ranks, at 16-element (cache-line) multiples. */
function chunkStart(len: number, index: number, n: number): number {
  return index >= n ? len : Math.min(len, Math.round(Math.floor((len * index) / n) / 16) * 16);
}

/**
 * The `threads` backend's ProcessGroup: ranks are worker threads of one process sharing
 * memory. A collective runs in pieces of at most the staging size; in each piece every rank
 * publishes where its data lies (a tensor allocated by `communicationBuffer` is read in place,
 * any other is copied through the rank's staging area), then, for the reductions, rank r
 * reduces chunk r of every rank's data in native code (the reduce-scatter) and writes the
 * result into every rank's buffer (the all-gather, fused). Phases are separated by arrival counters in
 * shared memory; every wait is bounded and watches the peer's liveness.
 *
 * @example
 * // inside a worker started by runThreads (or `turbine launch`)
 * const group = await initProcessGroup();
 * group.allReduce(grad, "mean");
 */
export class ThreadsProcessGroup implements ProcessGroup {
  readonly backend = "threads" as const;
  readonly rank: number;
  readonly size: number;
  readonly timeoutMs: number;
  private phase = 0;
  private calls = 0;
  private failure: unknown = null;
  private destroyed = false;
  private readonly queue = new WorkQueue();

  /** members: the world ranks of this group's ranks, in group order. */
  constructor(
    private readonly world: ThreadsWorld,
    private readonly slot: number,
    readonly members: readonly number[],
  ) {
    this.rank = members.indexOf(world.rank);
    this.size = members.length;
    this.timeoutMs = world.spec.timeoutMs;
  }

  allReduce(tensor: Tensor, op: ReduceOp = "sum", options?: CollectiveOptions): Work {
    const code = this.reduceCode("allReduce", tensor, op);
    return this.submit("allReduce", options, () => {
      const bpe = DTYPES[tensor.dtype].bytes,
        data = tensor.toHost(),
        shared = this.sharedOffset(data);
      this.pieces(tensor.size, this.stagingElements(bpe), (start, len, piece) => {
        const mine = data.subarray(start, start + len);
        const base = shared === null ? this.stage(mine) : shared + start * bpe;
        const peers = this.begin("allReduce", { dtype: DTYPES[tensor.dtype].code, count: tensor.size, param: REDUCE_OPS.indexOf(op), piece, base, stride: 0 });
        // Rank r reduces chunk r of every rank's buffer and writes the result into all of
        // them: each rank reads and writes its tensor's size once, as a memcpy does.
        const lo = chunkStart(len, this.rank, this.size),
          hi = chunkStart(len, this.rank + 1, this.size);
        const chunks = peers.map((p) => this.view(tensor.dtype, p.base + lo * bpe, hi - lo));
        kernels.collectiveReduce(DTYPES[tensor.dtype].code, code, chunks, chunks, op === "mean" ? 1 / this.size : 1);
        this.arriveAndWait("allReduce");
        if (shared === null) kernels.copyBytes(mine, this.view(tensor.dtype, base, len));
      });
    });
  }

  reduceScatter(output: Tensor, input: Tensor, op: ReduceOp = "sum", options?: CollectiveOptions): Work {
    const code = this.reduceCode("reduceScatter", input, op);
    this.checkParts("reduceScatter", output, input);
    return this.submit("reduceScatter", options, () => {
      const m = output.size,
        bpe = DTYPES[input.dtype].bytes,
        data = input.toHost(),
        shared = this.sharedOffset(data);
      const perChunk = Math.max(16, Math.floor(this.stagingElements(bpe) / this.size / 16) * 16);
      this.pieces(m, perChunk, (start, len, piece) => {
        let base: number, stride: number;
        if (shared !== null) {
          base = shared + start * bpe;
          stride = m * bpe;
        } else {
          base = this.world.regionStart(this.world.rank);
          stride = len * bpe;
          for (let c = 0; c < this.size; c++)
            kernels.copyBytes(this.view(input.dtype, base + c * stride, len), data.subarray(c * m + start, c * m + start + len));
        }
        const peers = this.begin("reduceScatter", { dtype: DTYPES[input.dtype].code, count: m, param: REDUCE_OPS.indexOf(op), piece, base, stride });
        const srcs = peers.map((p) => this.view(input.dtype, p.base + this.rank * p.stride, len));
        kernels.collectiveReduce(DTYPES[input.dtype].code, code, [output.toHost().subarray(start, start + len)], srcs, op === "mean" ? 1 / this.size : 1);
        this.arriveAndWait("reduceScatter");
      });
    });
  }

  allGather(output: Tensor, input: Tensor, options?: CollectiveOptions): Work {
    this.checkParts("allGather", input, output);
    return this.submit("allGather", options, () => {
      const m = input.size,
        bpe = DTYPES[input.dtype].bytes,
        shared = this.sharedOffset(input.toHost());
      this.pieces(m, this.stagingElements(bpe), (start, len, piece) => {
        const mine = input.toHost().subarray(start, start + len);
        const base = shared === null ? this.stage(mine) : shared + start * bpe;
        const peers = this.begin("allGather", { dtype: DTYPES[input.dtype].code, count: m, param: 0, piece, base, stride: 0 });
        for (let s = 0; s < this.size; s++) {
          const target = output.toHost().subarray(s * m + start, s * m + start + len);
          kernels.copyBytes(target, s === this.rank ? mine : this.view(input.dtype, peers[s]!.base, len));
        }
        this.arriveAndWait("allGather");
      });
    });
  }

  broadcast(tensor: Tensor, root: number, options?: CollectiveOptions): Work {
    this.checkRank("broadcast", root, "root");
    return this.submit("broadcast", options, () => {
      const bpe = DTYPES[tensor.dtype].bytes,
        data = tensor.toHost(),
        shared = this.sharedOffset(data);
      this.pieces(tensor.size, this.stagingElements(bpe), (start, len, piece) => {
        const mine = data.subarray(start, start + len);
        const base = this.rank !== root ? 0 : shared === null ? this.stage(mine) : shared + start * bpe;
        const peers = this.begin("broadcast", { dtype: DTYPES[tensor.dtype].code, count: tensor.size, param: root, piece, base, stride: 0 });
        if (this.rank !== root) kernels.copyBytes(mine, this.view(tensor.dtype, peers[root]!.base, len));
        this.arriveAndWait("broadcast");
      });
    });
  }

  /**
   * Rank r's input segment d goes to rank d, where it lands as output segment r. The split
   * sizes travel first (each rank stages its input and output splits, every rank checks the
   * whole matrix), then the data moves in rounds of at most the staging size.
   */
  allToAll(output: Tensor, input: Tensor, outputSplits?: readonly number[], inputSplits?: readonly number[], options?: CollectiveOptions): Work {
    if (output.dtype !== input.dtype) throw new TypeError(`allToAll: output is ${output.dtype} but input is ${input.dtype}`);
    const sendSplits = resolveSplits("allToAll", "inputSplits", input, this.size, inputSplits),
      recvSplits = resolveSplits("allToAll", "outputSplits", output, this.size, outputSplits);
    return this.submit("allToAll", options, () => {
      const n = this.size,
        code = DTYPES[input.dtype].code,
        bpe = DTYPES[input.dtype].bytes;
      const staged = new Int32Array(this.world.spec.arena as unknown as ArrayBuffer, this.world.regionStart(this.world.rank), 2 * n);
      staged.set([...sendSplits, ...recvSplits]);
      const peers = this.begin("allToAll", { dtype: code, count: n, param: 0, piece: 0, base: staged.byteOffset, stride: 0 });
      const matrix = peers.map((p) => Array.from(new Int32Array(this.world.spec.arena as unknown as ArrayBuffer, p.base, 2 * n)));
      this.arriveAndWait("allToAll");
      checkSplitMatrix(
        "allToAll",
        this.rank,
        matrix.map((m) => m.slice(0, n)),
        matrix.map((m) => m.slice(n)),
      );
      // Each round carries up to `per` elements of every (source, destination) segment.
      const per = Math.max(16, Math.floor(this.stagingElements(bpe) / n / 16) * 16);
      const largest = Math.max(0, ...matrix.flatMap((m) => m.slice(0, n)));
      const sendAt = offsetsOf(sendSplits),
        recvAt = offsetsOf(recvSplits);
      const src = input.toHost(),
        dst = output.toHost(),
        base = this.world.regionStart(this.world.rank);
      for (let round = 0; round * per < largest; round++) {
        const from = round * per;
        for (let d = 0; d < n; d++) {
          const len = Math.max(0, Math.min(per, sendSplits[d]! - from));
          if (len > 0) kernels.copyBytes(this.view(input.dtype, base + d * per * bpe, len), src.subarray(sendAt[d]! + from, sendAt[d]! + from + len));
        }
        const bases = this.begin("allToAll", { dtype: code, count: n, param: 0, piece: round + 1, base, stride: 0 });
        for (let s = 0; s < n; s++) {
          const len = Math.max(0, Math.min(per, recvSplits[s]! - from));
          if (len > 0)
            kernels.copyBytes(dst.subarray(recvAt[s]! + from, recvAt[s]! + from + len), this.view(input.dtype, bases[s]!.base + this.rank * per * bpe, len));
        }
        this.arriveAndWait("allToAll");
      }
    });
  }

  barrier(options?: CollectiveOptions): Work {
    return this.submit("barrier", options, () => {
      this.begin("barrier", { dtype: 0, count: 0, param: 0, piece: 0, base: 0, stride: 0 });
    });
  }

  send(tensor: Tensor, peer: number, tag = 0, options?: CollectiveOptions): Work {
    this.checkPeer("send", peer);
    return this.submit("send", options, () => transfer(this.world, "send", tensor, { rank: this.rank, peer, worldPeer: this.members[peer]! }, tag));
  }

  recv(tensor: Tensor, peer: number, tag = 0, options?: CollectiveOptions): Work {
    this.checkPeer("recv", peer);
    return this.submit("recv", options, () => transfer(this.world, "recv", tensor, { rank: this.rank, peer, worldPeer: this.members[peer]! }, tag));
  }

  /**
   * Send/recv for a serving loop over this group's mailboxes (see PeerChannel): poll reads the
   * pair's posted and taken counters, alive the supervisor's exit flags; failures stay local.
   * @example const channel = group.peerChannel(); if (channel.poll(1)) channel.recv(buffer, 1, 7);
   */
  peerChannel(): PeerChannel {
    const world = this.world;
    const who = (peer: number) => ({ rank: this.rank, peer, worldPeer: this.members[peer]! });
    const checked = (op: string, peer: number): number => {
      if (this.destroyed) throw new Error(`${op}: the process group was destroyed`);
      this.checkPeer(op, peer);
      return this.members[peer]!;
    };
    return {
      rank: this.rank,
      size: this.size,
      poll: (peer) => {
        const words = world.layout.mailbox + 4 * (checked("poll", peer) * world.spec.size + world.rank);
        if (Atomics.load(world.ctl, words) <= Atomics.load(world.ctl, words + 1)) return null;
        return { tag: Atomics.load(world.ctl, words + 2), bytes: Atomics.load(world.ctl, words + 3) };
      },
      alive: (peer) => Atomics.load(world.ctl, world.layout.dead + checked("alive", peer)) === 0,
      send: (tensor, peer, tag) => {
        checked("send", peer);
        transfer(world, "send", tensor, who(peer), tag);
      },
      recv: (tensor, peer, tag) => {
        checked("recv", peer);
        transfer(world, "recv", tensor, who(peer), tag);
      },
    };
  }

  newGroup(ranks: number[]): ProcessGroup | null {
    if (!Array.isArray(ranks) || ranks.length === 0 || new Set(ranks).size !== ranks.length) {
      throw new RangeError(`newGroup: ranks must be a non-empty list of distinct ranks, got ${JSON.stringify(ranks)}`);
    }
    for (const r of ranks) this.checkRank("newGroup", r, "rank");
    let slot = 0;
    this.submit("newGroup", undefined, () => {
      // Every rank must pass the same list: a hash of it travels as the count.
      const hash = ranks.reduce((h, r) => (h * 257 + r + 1) % 2 ** 31, 7);
      const base = this.rank === 0 ? this.world.allocateSlot() : 0;
      slot = this.begin("newGroup", { dtype: 0, count: hash, param: ranks.length, piece: 0, base, stride: 0 })[0]!.base;
    });
    return ranks.includes(this.rank)
      ? new ThreadsProcessGroup(
          this.world,
          slot,
          ranks.map((r) => this.members[r]!),
        )
      : null;
  }

  /**
   * A tensor in this rank's shared memory: collectives read it in place instead of copying it
   * through the staging area (DDP puts its gradient buckets there). Lives as long as the job;
   * falls back to ordinary memory when the shared area is full.
   * @example const bucket = group.communicationBuffer([1 << 20], "float32");
   */
  communicationBuffer(shape: readonly number[], dtype: DType): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    const offset = this.world.allocateShared(size * DTYPES[dtype].bytes);
    if (offset === null) return Tensor.empty(shape, dtype, "other");
    return fromTypedArray(new DTYPES[dtype].array(this.world.spec.arena as unknown as ArrayBuffer, offset, size), shape, dtype, "other");
  }

  destroy(): void {
    this.destroyed = true;
  }

  private submit(op: string, options: CollectiveOptions | undefined, run: () => void): Work {
    if (this.destroyed) throw new Error(`${op}: the process group was destroyed`);
    if (this.failure !== null) throw new Error(`${op} on rank ${this.rank}: the process group failed earlier (${(this.failure as Error).message})`);
    const guarded = (): void => {
      try {
        run();
      } catch (error) {
        this.failure = error;
        throw error;
      }
    };
    if (options?.async) return this.queue.push(guarded);
    this.queue.runUntil(null);
    guarded();
    return completedWork;
  }

  /** Publishes this rank's call, waits for every peer's, and checks that they all agree. */
  private begin(op: CollectiveName, call: Call): Call[] {
    const parity = this.calls++ & 1;
    const at = (r: number): number => ((this.slot * this.world.spec.size + this.members[r]!) * 2 + parity) * DESCRIPTOR_WORDS;
    const d = this.world.desc;
    d.set([this.calls, OPS.indexOf(op), call.dtype, call.count, call.param, call.piece, call.base, call.stride], at(this.rank));
    this.arriveAndWait(op);
    const peers: Call[] = [];
    for (let s = 0; s < this.size; s++) {
      const i = at(s);
      const theirs = { op: OPS[d[i + 1]!] ?? "?", dtype: d[i + 2]!, count: d[i + 3]!, param: d[i + 4]!, piece: d[i + 5]! };
      if (theirs.op !== op || theirs.dtype !== call.dtype || theirs.count !== call.count || theirs.param !== call.param || theirs.piece !== call.piece) {
        throw new CollectiveError(
          op,
          this.rank,
          s,
          `ranks disagree on call ${this.calls}: this rank called ${op} (dtype ${call.dtype}, ${call.count} elements, parameter ${call.param}), ` +
            `rank ${s} called ${theirs.op} (dtype ${theirs.dtype}, ${theirs.count} elements, parameter ${theirs.param})`,
        );
      }
      peers.push({ ...call, base: d[i + 6]!, stride: d[i + 7]! });
    }
    return peers;
  }

  /** One phase: this rank arrives, then waits until every peer has. */
  private arriveAndWait(op: string): void {
    const words = this.world.layout.arrive + this.slot * this.world.spec.size;
    this.world.signal(words + this.members[this.rank]!, ++this.phase);
    const deadline = performance.now() + this.timeoutMs;
    for (let s = 0; s < this.size; s++) {
      if (s === this.rank) continue;
      const peer = this.members[s]!;
      this.world.waitAtLeast(words + peer, this.phase, peer, deadline, { op, rank: this.rank, peer: s });
    }
  }

  /** Runs fn(start, len, piece) over [0, total) in pieces of at most `step` (once when empty). */
  private pieces(total: number, step: number, fn: (start: number, len: number, piece: number) => void): void {
    let piece = 0;
    for (let start = 0; start === 0 || start < total; start += step) fn(start, Math.min(step, total - start), piece++);
  }

  private stagingElements(bpe: number): number {
    return Math.floor(this.world.spec.stagingBytes / bpe / 16) * 16;
  }

  /** Copies data into this rank's staging area; returns its byte offset in the arena. */
  private stage(data: TypedArray): number {
    const base = this.world.regionStart(this.world.rank);
    kernels.copyBytes(new Uint8Array(this.world.spec.arena, base, data.byteLength), bytesOf(data));
    return base;
  }

  /** The arena offset of data that lies in this rank's shared memory, else null. */
  private sharedOffset(data: TypedArray): number | null {
    if (data.buffer !== this.world.spec.arena) return null;
    const start = this.world.regionStart(this.world.rank);
    return data.byteOffset >= start && data.byteOffset + data.byteLength <= start + this.world.spec.regionBytes ? data.byteOffset : null;
  }

  private view(dtype: DType, byteOffset: number, length: number): TypedArray {
    return new DTYPES[dtype].array(this.world.spec.arena as unknown as ArrayBuffer, byteOffset, length);
  }

  private reduceCode(op: string, tensor: Tensor, reduce: ReduceOp): number {
    if (!REDUCE_OPS.includes(reduce)) throw new RangeError(`${op}: reduce op must be one of ${REDUCE_OPS.join(", ")}, got ${JSON.stringify(reduce)}`);
    if (!DTYPES[tensor.dtype].floating) throw new TypeError(`${op}: reductions need a float tensor (float32, bfloat16, float16), got ${tensor.dtype}`);
    return reduce === "max" ? codes.collective.max : codes.collective.sum;
  }

  /** `whole` must hold size × `part` elements of part's dtype. */
  private checkParts(op: string, part: Tensor, whole: Tensor): void {
    if (whole.dtype !== part.dtype || whole.size !== part.size * this.size) {
      throw new RangeError(`${op}: expected ${this.size} × ${part.size} = ${this.size * part.size} ${part.dtype} elements, got ${whole.size} ${whole.dtype}`);
    }
  }

  private checkRank(op: string, r: number, what: string): void {
    if (!Number.isSafeInteger(r) || r < 0 || r >= this.size) throw new RangeError(`${op}: ${what} ${r} is outside the group's ranks [0, ${this.size})`);
  }

  private checkPeer(op: string, peer: number): void {
    this.checkRank(op, peer, "peer");
    if (peer === this.rank) throw new RangeError(`${op}: rank ${peer} cannot ${op === "send" ? "send to" : "receive from"} itself`);
  }
}
