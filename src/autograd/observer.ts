/**
 * An optional observer of every op the autograd layer runs, forward and backward: the
 * profiler's hook. With none installed the cost is one null check per op.
 */
export interface OpObserver {
  /** Called around each forward rule and each backward rule; returns its result. */
  around<T>(op: string, phase: "forward" | "backward", fn: () => T): T;
}

let current: OpObserver | null = null;

export function opObserver(): OpObserver | null {
  return current;
}

/** Installs an observer (null removes it); returns the previous one. */
export function setOpObserver(observer: OpObserver | null): OpObserver | null {
  const previous = current;
  current = observer;
  return previous;
}
