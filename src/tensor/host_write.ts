import type { TypedArray } from "./dtype.js";

/**
 * Writes into tensor memory that TypeScript makes itself instead of a kernel (a fill, a copy, a
 * tensor made from numbers): reported to an observer so a capture of a training step
 * (src/compile) can replay them, since it sees the kernels only. With none installed the cost
 * is one null check per write.
 */
export interface HostWriteObserver {
  /** target[i] = value for every element (f32 and int32 arrays; other dtypes fill through a kernel). */
  fill(target: TypedArray, value: number): void;
  /** target = source, element by element (same length and kind). */
  copy(target: TypedArray, source: TypedArray): void;
  /** target = values, given by the host (a tensor made from numbers). */
  set(target: TypedArray, values: ArrayLike<number>): void;
}

let observer: HostWriteObserver | null = null;

/** The installed observer, or null. @example hostWrites()?.fill(t.data, 0) */
export function hostWrites(): HostWriteObserver | null {
  return observer;
}

/**
 * Installs an observer (null removes it); returns the previous one.
 * @example const previous = setHostWriteObserver(recorder); try { step(); } finally { setHostWriteObserver(previous); }
 */
export function setHostWriteObserver(next: HostWriteObserver | null): HostWriteObserver | null {
  const previous = observer;
  observer = next;
  return previous;
}
