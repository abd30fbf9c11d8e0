let enabled = true;

/** Whether ops record the graph for backward on this thread. */
export function isGradEnabled(): boolean {
  return enabled;
}

function withGradMode<T>(mode: boolean, fn: () => T): T {
  const previous = enabled;
  enabled = mode;
  try {
    return fn();
  } finally {
    enabled = previous;
  }
}

/**
 * Runs fn without recording the graph: for evaluation, and for updates to parameters.
 *
 * @example
 * const logits = noGrad(() => model.forward(x));
 */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/**
 * Runs fn with recording on, even inside noGrad: a backward rule that recomputes a forward
 * (activation checkpointing) needs the graph of the recomputation.
 *
 * @example
 * const y = enableGrad(() => block.forward(xDetached));
 */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}
