/**
 * A pool of ArrayBuffers by size class. Training allocates the same shapes every step, so after
 * the first step tensors reuse buffers instead of asking V8 for new, zero-filled memory.
 * Size classes are 64-byte multiples up to 4 KiB, then eighths of a power of two, so a
 * request wastes at most 12.5%.
 */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private cached = 0;

  /** @param maxCachedBytes released buffers beyond this are left to the garbage collector */
  constructor(public maxCachedBytes = 4 * 1024 ** 3) {}

  static sizeClass(bytes: number): number {
    if (bytes <= 4096) return Math.max(64, Math.ceil(bytes / 64) * 64);
    const step = 2 ** (Math.floor(Math.log2(bytes)) - 3);
    return Math.ceil(bytes / step) * step;
  }

  acquire(bytes: number): ArrayBuffer {
    const size = BufferPool.sizeClass(bytes);
    const list = this.free.get(size);
    const buffer = list?.pop();
    if (buffer) {
      this.cached -= size;
      return buffer;
    }
    return new ArrayBuffer(size);
  }

  release(buffer: ArrayBuffer): void {
    const size = buffer.byteLength;
    if (this.cached + size > this.maxCachedBytes) return;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
    this.cached += size;
  }

  /** Bytes held in released buffers, ready for reuse. */
  get cachedBytes(): number {
    return this.cached;
  }

  /** Drops every cached buffer. */
  emptyCache(): void {
    this.free.clear();
    this.cached = 0;
  }
}

/** The pool of this thread. */
export const pool = new BufferPool();
