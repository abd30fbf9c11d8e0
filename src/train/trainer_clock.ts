import { performance } from "node:perf_hooks";

/**
 * The training clock of a Trainer: seconds spent training, with evaluation and checkpoints
 * left out by pausing it around them.
 * @example
 * const clock = new TrainClock();
 * clock.start();
 * clock.pause(() => evaluate());
 * clock.stop(); // clock.seconds: training time only
 */
export class TrainClock {
  private stopped = 0;
  private startedAt: number | null = null;

  /** Seconds counted so far, the running stretch included. */
  get seconds(): number {
    return this.stopped + (this.startedAt === null ? 0 : (performance.now() - this.startedAt) / 1000);
  }

  /** Seconds counted up to the last stop (what a finished fit reports). */
  get stoppedSeconds(): number {
    return this.stopped;
  }

  /** Starts (or restarts) counting. */
  start(): void {
    this.startedAt = performance.now();
  }

  /** Stops counting, keeping the seconds so far; a no-op when stopped. */
  stop(): void {
    if (this.startedAt === null) return;
    this.stopped += (performance.now() - this.startedAt) / 1000;
    this.startedAt = null;
  }

  /** Runs fn with the clock stopped, restarting it after if it was running. */
  pause<T>(fn: () => T): T {
    const running = this.startedAt !== null;
    if (running) this.stop();
    try {
      return fn();
    } finally {
      if (running) this.start();
    }
  }
}
