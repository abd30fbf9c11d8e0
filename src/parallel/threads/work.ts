import type { Work } from "../process_group.js";

/** A collective that ran synchronously: already complete. */
export const completedWork: Work = { wait() {}, isCompleted: () => true };

/**
 * An asynchronous collective of the threads backend. Every rank must take part in a
 * collective, and a rank's thread is the only one that can run its part, so queued work runs,
 * in the order it was issued, when the rank waits on it or on later work, or calls a
 * synchronous collective. Issuing is cheap and never blocks; the caller must not touch the
 * tensors until `wait()` returns.
 */
export class QueuedWork implements Work {
  private done = false;
  private error: unknown = null;

  constructor(
    private readonly queue: WorkQueue,
    readonly run: () => void,
  ) {}

  wait(): void {
    if (!this.done) this.queue.runUntil(this);
    if (this.error !== null) throw this.error;
  }

  isCompleted(): boolean {
    return this.done;
  }

  /** Runs the operation once, recording its failure for every later wait(). */
  settle(): void {
    try {
      this.run();
    } catch (error) {
      this.error = error;
    } finally {
      this.done = true;
    }
  }

  /** Completes without running, failing with the error that stopped the queue. */
  abandon(error: unknown): void {
    this.error = error;
    this.done = true;
  }

  get failure(): unknown {
    return this.error;
  }
}

/** The pending asynchronous work of one group, run strictly in issue order. */
export class WorkQueue {
  private readonly pending: QueuedWork[] = [];

  push(run: () => void): Work {
    const work = new QueuedWork(this, run);
    this.pending.push(work);
    return work;
  }

  /** Runs queued work up to and including `target` (everything when null); rethrows the first failure. */
  runUntil(target: QueuedWork | null): void {
    while (this.pending.length > 0) {
      const work = this.pending.shift()!;
      work.settle();
      if (work.failure !== null) {
        // Later work cannot run on a group whose ranks no longer agree on the sequence.
        for (const rest of this.pending.splice(0)) rest.abandon(work.failure);
        throw work.failure;
      }
      if (work === target) return;
    }
  }
}
