import { performance } from "node:perf_hooks";

import { CollectiveError } from "../process_group.js";

/**
 * The shared memory of a `threads` job, made once by the supervising thread and handed to
 * every worker: plain data (SharedArrayBuffers and sizes), so it crosses `workerData`.
 *
 * - control (Int32Array): a slot allocator for sub-groups, per-rank liveness, per-group
 *   arrival counters (one word per rank, raised at every phase of a collective) and per-pair
 *   mailbox counters; every wait is an Atomics.wait on one of these words.
 * - descriptors (Float64Array): what each rank is calling (op, dtype, count, root, where its
 *   data lies), double-buffered by call parity, so ranks check each other's calls.
 * - arena: one region per rank, a staging area (tensors are copied through it) followed by
 *   memory for tensors that live in shared memory (DDP buckets), which peers read in place.
 * - mail: one mailbox per ordered pair of ranks for send/recv.
 */
export interface ThreadsWorldSpec {
  size: number;
  timeoutMs: number;
  control: SharedArrayBuffer;
  descriptors: SharedArrayBuffer;
  arena: SharedArrayBuffer;
  mail: SharedArrayBuffer;
  regionBytes: number;
  stagingBytes: number;
  mailboxBytes: number;
  /** Milliseconds a wait keeps checking before it sleeps. */
  spinMs: number;
}

export interface ThreadsWorldOptions {
  /** Milliseconds any wait may take (default 60 s). */
  timeoutMs?: number;
  /** Per rank: bytes of the staging area that collectives copy through (default 16 MiB). */
  stagingBytes?: number;
  /** Per rank: bytes for tensors allocated in shared memory, e.g. DDP buckets (default 112 MiB). */
  sharedTensorBytes?: number;
  /**
   * Per ordered pair of ranks: bytes of one send/recv message piece (default 8 MiB; memory is
   * only touched where used). A larger message is a rendezvous: send waits for the recv.
   */
  mailboxBytes?: number;
  /**
   * Milliseconds a wait keeps checking before it sleeps (default 0). A sleeping rank wakes tens
   * of microseconds after its peer's signal; spinning spares that where every rank has a core
   * (startThreads decides: `spinBudgetMs`), and takes a core from another rank where they do not.
   */
  spinMs?: number;
}

/** The default spin budget of a wait: while the ranks' threads fit the cores. */
const SPIN_MS = 0.25;

/**
 * How long a wait spins before sleeping for `ranks` ranks of `threadsPerRank` threads on
 * `cores` cores: SPIN_MS when every thread has a core, else 0 (a spinning rank would take the
 * core of the rank it waits for).
 * @example spinBudgetMs(2, 1, os.availableParallelism())   // 0.25 on 2 cores or more
 */
export function spinBudgetMs(ranks: number, threadsPerRank: number, cores: number): number {
  return ranks * threadsPerRank <= cores ? SPIN_MS : 0;
}

/** Sub-groups a job may create (slot 0 is the world). */
export const MAX_GROUPS = 64;

/** The most ranks (worker threads) one threads-backend job holds. */
export const MAX_THREAD_RANKS = 256;

/** Doubles per descriptor: seq, op, dtype, count, root, piece, base byte offset, chunk stride. */
export const DESCRIPTOR_WORDS = 8;
const NEXT_SLOT = 0;
const HEADER = 4;
const MIB = 1 << 20;

/** Control-word indices of a job of `size` ranks. */
export function controlLayout(size: number) {
  const dead = HEADER;
  const exitCode = dead + size;
  const arrive = exitCode + size;
  const mailbox = arrive + MAX_GROUPS * size;
  // Per ordered pair: messages posted, messages taken, tag, total bytes.
  const words = mailbox + 4 * size * size;
  return { dead, exitCode, arrive, mailbox, words };
}

function sizeOption(value: number | undefined, fallback: number, name: string, multiple: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < multiple || v % multiple !== 0) {
    throw new RangeError(`threads backend: ${name} must be a positive multiple of ${multiple} bytes, got ${v}`);
  }
  return v;
}

/**
 * Allocates the shared memory of a job of `size` ranks (the supervisor calls this once).
 * @example const spec = createWorldSpec(2, { timeoutMs: 10_000 });
 */
export function createWorldSpec(size: number, options: ThreadsWorldOptions = {}): ThreadsWorldSpec {
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_THREAD_RANKS)
    throw new RangeError(`threads backend: world size must be an integer in [1, ${MAX_THREAD_RANKS}], got ${size}`);
  const timeoutMs = options.timeoutMs ?? 60_000;
  if (!(timeoutMs > 0)) throw new RangeError(`threads backend: timeoutMs must be positive, got ${timeoutMs}`);
  const stagingBytes = sizeOption(options.stagingBytes, 16 * MIB, "stagingBytes", 64);
  const regionBytes = stagingBytes + sizeOption(options.sharedTensorBytes, 112 * MIB, "sharedTensorBytes", 64);
  const mailboxBytes = sizeOption(options.mailboxBytes, 8 * MIB, "mailboxBytes", 64);
  const spinMs = options.spinMs ?? 0;
  if (!(spinMs >= 0 && spinMs < timeoutMs)) throw new RangeError(`threads backend: spinMs must be in [0, timeoutMs), got ${spinMs}`);
  const layout = controlLayout(size);
  const control = new SharedArrayBuffer(layout.words * 4);
  new Int32Array(control)[NEXT_SLOT] = 1;
  return {
    size,
    timeoutMs,
    control,
    descriptors: new SharedArrayBuffer(MAX_GROUPS * size * 2 * DESCRIPTOR_WORDS * 8),
    arena: new SharedArrayBuffer(size * regionBytes),
    mail: new SharedArrayBuffer(size * size * mailboxBytes),
    regionBytes,
    stagingBytes,
    mailboxBytes,
    spinMs,
  };
}

/**
 * Records that `rank` has exited and wakes every waiter, so peers fail at once with an error
 * naming it instead of waiting for their timeout. The supervisor calls it on a worker's exit.
 * @example worker.on("exit", (code) => markDead(spec, rank, code));
 */
export function markDead(spec: ThreadsWorldSpec, rank: number, exitCode: number): void {
  const ctl = new Int32Array(spec.control);
  const layout = controlLayout(spec.size);
  ctl[layout.exitCode + rank] = exitCode;
  Atomics.store(ctl, layout.dead + rank, 1);
  for (let i = layout.arrive; i < layout.words; i++) Atomics.notify(ctl, i);
}

/** Busy checks before sleeping: a peer a few microseconds behind is cheaper to spin for. */
const SPINS = 2000;
/** Longest single sleep, so liveness is rechecked even if a wake-up is missed. */
const SLICE_MS = 20;

/**
 * One thread's handle on the job's shared memory: liveness checks, bounded waits, the
 * descriptor table and this rank's shared-tensor allocator.
 */
export class ThreadsWorld {
  readonly ctl: Int32Array;
  readonly desc: Float64Array;
  readonly layout: ReturnType<typeof controlLayout>;
  private allocated = 0;

  constructor(
    readonly spec: ThreadsWorldSpec,
    readonly rank: number,
  ) {
    if (!Number.isSafeInteger(rank) || rank < 0 || rank >= spec.size) throw new RangeError(`threads backend: rank ${rank} outside [0, ${spec.size})`);
    this.ctl = new Int32Array(spec.control);
    this.desc = new Float64Array(spec.descriptors);
    this.layout = controlLayout(spec.size);
  }

  /** Byte offset of a rank's region in the arena (its staging area starts there). */
  regionStart(rank: number): number {
    return rank * this.spec.regionBytes;
  }

  /** A fresh sub-group slot (called by one rank, which tells the others). */
  allocateSlot(): number {
    const slot = Atomics.add(this.ctl, NEXT_SLOT, 1);
    if (slot >= MAX_GROUPS) throw new RangeError(`threads backend: at most ${MAX_GROUPS - 1} sub-groups per job`);
    return slot;
  }

  /** Bytes of this rank's shared-tensor memory, 64-byte aligned; null when it is full. */
  allocateShared(bytes: number): number | null {
    const aligned = Math.ceil(bytes / 64) * 64;
    if (this.spec.stagingBytes + this.allocated + aligned > this.spec.regionBytes) return null;
    const offset = this.regionStart(this.rank) + this.spec.stagingBytes + this.allocated;
    this.allocated += aligned;
    return offset;
  }

  /** Raises control word `index` to `value` and wakes whoever waits on it. */
  signal(index: number, value: number): void {
    Atomics.store(this.ctl, index, value);
    Atomics.notify(this.ctl, index);
  }

  /**
   * Waits until control word `index`, owned by `peer`, reaches `target`; fails with a
   * CollectiveError naming op, this rank (as the group numbers it) and the peer when the peer
   * exits or the deadline passes.
   */
  waitAtLeast(index: number, target: number, peer: number, deadline: number, who: { op: string; rank: number; peer: number }): void {
    let spins = 0,
      spinUntil = -1;
    for (;;) {
      const value = Atomics.load(this.ctl, index);
      if (value >= target) return;
      if (Atomics.load(this.ctl, this.layout.dead + peer) !== 0) {
        const code = this.ctl[this.layout.exitCode + peer];
        throw new CollectiveError(who.op, who.rank, who.peer, `peer rank ${who.peer} exited (code ${code}) before joining`);
      }
      if (spins++ < SPINS) continue;
      const now = performance.now();
      if (spinUntil < 0) spinUntil = now + this.spec.spinMs;
      if (now < spinUntil) continue;
      const left = deadline - now;
      if (left <= 0) {
        throw new CollectiveError(who.op, who.rank, who.peer, `timed out after ${this.spec.timeoutMs} ms waiting for peer rank ${who.peer}`);
      }
      Atomics.wait(this.ctl, index, value, Math.min(left, SLICE_MS));
    }
  }
}
