/**
 * The memory tracker: bytes held by live tensor storage, by category, current and peak. It is
 * exact: every storage adds its byte size when created and removes it when released, so the
 * peak is a property of the program, not of the garbage collector.
 *
 * @example
 * import { memory, zeros } from "turbine";
 * memory.resetPeak();
 * const t = zeros([1024]);           // 4096 bytes of "other"
 * memory.report().peak.other;        // 4096
 */
export type MemoryCategory = "parameter" | "gradient" | "optimizer" | "activation" | "other";

export const MEMORY_CATEGORIES: readonly MemoryCategory[] = ["parameter", "gradient", "optimizer", "activation", "other"];

export interface MemoryReport {
  /** Bytes held now, by category. */
  current: Record<MemoryCategory, number>;
  /** The most bytes each category held at once since the last resetPeak. */
  peak: Record<MemoryCategory, number>;
  /** Bytes held now across categories. */
  total: number;
  /** The most bytes held at once across categories since the last resetPeak. */
  peakTotal: number;
}

function perCategory(): Record<MemoryCategory, number> {
  return { parameter: 0, gradient: 0, optimizer: 0, activation: 0, other: 0 };
}

export class MemoryTracker {
  private readonly current = perCategory();
  private readonly peak = perCategory();
  private total = 0;
  private peakTotal = 0;

  allocate(category: MemoryCategory, bytes: number): void {
    const now = (this.current[category] += bytes);
    if (now > this.peak[category]) this.peak[category] = now;
    this.total += bytes;
    if (this.total > this.peakTotal) this.peakTotal = this.total;
  }

  free(category: MemoryCategory, bytes: number): void {
    this.current[category] -= bytes;
    this.total -= bytes;
  }

  /** Moves bytes between categories (a tensor becoming a parameter, say); the total is unchanged. */
  move(from: MemoryCategory, to: MemoryCategory, bytes: number): void {
    this.current[from] -= bytes;
    const now = (this.current[to] += bytes);
    if (now > this.peak[to]) this.peak[to] = now;
  }

  /** Starts a new peak measurement from what is held now. */
  resetPeak(): void {
    for (const c of MEMORY_CATEGORIES) this.peak[c] = this.current[c];
    this.peakTotal = this.total;
  }

  report(): MemoryReport {
    return { current: { ...this.current }, peak: { ...this.peak }, total: this.total, peakTotal: this.peakTotal };
  }
}

/** The tracker of this thread (each worker thread has its own). */
export const memory = new MemoryTracker();

/**
 * Whether an error is V8 refusing a typed array or its buffer (the process ran out of memory
 * for tensor storage), as opposed to a bug or bad input: a failed run, not a stack trace.
 * @example if (isOutOfMemory(error)) console.error("out of memory: lower the batch size");
 */
export function isOutOfMemory(error: unknown): boolean {
  return (
    error instanceof RangeError &&
    /^(Array buffer allocation failed|Invalid typed array length|Invalid array buffer length|Invalid array length)/.test(error.message)
  );
}
