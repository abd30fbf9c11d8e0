/**
 * Gradient accumulation: a step of `accumulate` = k micro-batches runs forward and backward on
 * each in turn, adding into the same `.grad`, and then takes one optimizer step, so a batch k
 * times larger fits in the activation memory of one micro-batch.
 *
 * Weighting (PyTorch's loss/k convention): each micro-batch's loss is its mean over its own
 * samples (or tokens), weighted 1/k. With equal micro-batches that is the mean over the k×
 * batch, so the update equals the k× batch's to round-off. A short last micro-batch of an
 * epoch (the loader without dropLast) still weighs 1/k, as in a PyTorch loop that divides each
 * loss by k; its samples weigh a little more than the others. Steps never span an epoch: when
 * the epoch has fewer than k micro-batches left, the last step takes what is left, m < k, and
 * weighs each 1/m, so its gradient is a mean too rather than shrunk by m/k.
 *
 * Step boundaries are a function of the loader's position alone, so a run resumed from a
 * checkpoint (always taken between steps) groups micro-batches exactly as an uninterrupted one.
 */

/**
 * Optimizer steps in an epoch of `batches` micro-batches.
 * @example stepsPerEpoch(10, 4)   // 3: micro-batches 4 + 4 + 2
 */
export function stepsPerEpoch(batches: number, accumulate: number): number {
  return Math.ceil(batches / accumulate);
}

/**
 * Micro-batches in the step that starts at `batchIndex` of an epoch of `batches`; 0 when the
 * epoch is used up.
 * @example microBatchesOfStep(8, 10, 4)   // 2
 */
export function microBatchesOfStep(batchIndex: number, batches: number, accumulate: number): number {
  return Math.max(0, Math.min(accumulate, batches - batchIndex));
}
