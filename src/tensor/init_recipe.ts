import type { Tensor } from "./tensor.js";

/**
 * What made a meta tensor's elements, in order: the fills and random draws its module's
 * constructor applied. Each random step holds the counters it reserved, so the values of any
 * range of elements can be drawn later exactly as the eager constructor drew them.
 */
export type InitStep =
  | { kind: "fill"; value: number }
  | { kind: "uniform"; low: number; high: number; seed: number; offset: number }
  | { kind: "normal"; mean: number; std: number; seed: number; offset: number };

const recipes = new WeakMap<Tensor, InitStep[]>();
let depth = 0;

/** True inside withDeferredInit: the creation functions make meta tensors. */
export function deferringInit(): boolean {
  return depth > 0;
}

/** Runs fn with the creation functions making meta tensors (see nn.deferInit). */
export function withDeferredInit<T>(fn: () => T): T {
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}

/** Appends a step to a meta tensor's recipe. */
export function recordInit(t: Tensor, step: InitStep): Tensor {
  const steps = recipes.get(t) ?? [];
  recipes.set(t, steps);
  steps.push(step);
  return t;
}

/** A meta tensor's recipe (empty: uninitialised memory, as `empty()` gives). */
export function initSteps(t: Tensor): readonly InitStep[] {
  return recipes.get(t) ?? [];
}
