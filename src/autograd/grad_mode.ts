let enabled = true;

/** Whether ops record the graph for backward on this thread. */
export function isGradEnabled(): boolean {
  return enabled;
}

/**
 * Runs fn without recording the graph: for evaluation, and for updates to parameters.
 *
 * @example
 * const logits = noGrad(() => model.forward(x));
 */
export function noGrad<T>(fn: () => T): T {
  const previous = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = previous;
  }
}
