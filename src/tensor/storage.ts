import { backendName } from "../backends/index.js";
import { memory, type MemoryCategory } from "./memory.js";
import { pool, type PooledBuffer } from "./pool.js";

/**
 * The memory behind one or more tensors (a tensor and its reshaped views share one). It is
 * reference counted: each tensor handle and each saved-for-backward reference holds one, and
 * the last release returns a pooled buffer to the pool and the bytes to the tracker.
 */
export class Storage {
  private refs = 1;
  /** The backend whose kernels work on this memory (the one this thread chose). */
  readonly backend = backendName;
  private categoryValue: MemoryCategory;

  private constructor(
    readonly buffer: ArrayBufferLike,
    /** Where the data starts in the buffer. */
    readonly byteOffset: number,
    readonly byteLength: number,
    category: MemoryCategory,
    private readonly pooled: PooledBuffer | null,
    private readonly onRelease: (() => void) | null = null,
  ) {
    this.categoryValue = category;
    memory.allocate(category, byteLength);
  }

  /** Storage from the pool; its contents are whatever the buffer held before. */
  static allocate(byteLength: number, category: MemoryCategory): Storage {
    const pooled = pool.acquire(byteLength);
    return new Storage(pooled.buffer, pooled.offset, byteLength, category, pooled);
  }

  /**
   * Storage over memory the caller provides (a SharedArrayBuffer batch, a file's bytes). It
   * never goes into the pool; `onRelease` runs when the last holder lets go (the data loader
   * uses it to take a batch's shared buffer back).
   */
  static wrap(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, category: MemoryCategory, onRelease?: () => void): Storage {
    return new Storage(buffer, byteOffset, byteLength, category, null, onRelease ?? null);
  }

  get category(): MemoryCategory {
    return this.categoryValue;
  }

  set category(category: MemoryCategory) {
    if (category === this.categoryValue || this.refs === 0) return;
    memory.move(this.categoryValue, category, this.byteLength);
    this.categoryValue = category;
  }

  get alive(): boolean {
    return this.refs > 0;
  }

  /** Number of holders; 1 means the caller's handle is the only one. */
  get refCount(): number {
    return this.refs;
  }

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (this.refs <= 0) return;
    if (--this.refs === 0) {
      memory.free(this.categoryValue, this.byteLength);
      if (this.pooled) pool.release(this.pooled);
      this.onRelease?.();
    }
  }
}
