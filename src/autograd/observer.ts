/**
 * An optional observer of every op the autograd layer runs, forward and backward, of the
 * training loop's regions outside ops and of the batches loader workers made: the profiler's hook. With none installed the cost is one
 * null check per op or region.
 */
export interface OpObserver {
  /** Called around each forward rule and each backward rule; returns its result. */
  around<T>(op: string, phase: "forward" | "backward", fn: () => T): T;
  /** Called around each region of a training step (observeRegion); returns its result. */
  region?<T>(region: StepRegion, fn: () => T): T;
  /** Called when the training thread takes a batch a DataLoader worker made: the worker and when it made it (wall-clock ms, performance.timeOrigin + now()). */
  loaderBatch?(worker: number, start: number, end: number): void;
}

/**
 * The parts of a training step that are not ops: the whole step, the wait for its batch, the
 * optimizer's update (clipping, the step, zeroing gradients; its kernels run outside ops), and a
 * compiled step's replay (train.compile: a flat list of kernel calls, no ops).
 */
export type StepRegion = "step" | "data" | "optimizer" | "replay";

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

/**
 * Runs fn as a region of a training step, seen by the installed observer (the profiler).
 * @example const next = observeRegion("data", () => iterator.next());
 */
export function observeRegion<T>(region: StepRegion, fn: () => T): T {
  return current?.region ? current.region(region, fn) : fn();
}
