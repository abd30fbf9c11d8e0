/** When masks are recomputed during training: from step `start` every `every` steps, and at `end`. */
export interface PruneSchedule {
  /** The first step (optimizer steps done) whose mask is computed; before it nothing is pruned. */
  start: number;
  /** The step at which the final sparsity is reached; masks stay fixed after it. */
  end: number;
  /** Steps between two mask updates (Zhu & Gupta's Δt). */
  every: number;
}

/**
 * The gradual cubic sparsity of Zhu & Gupta ("To prune, or not to prune", 2017):
 * s_t = s_f + (s_i − s_f)(1 − (t − t0)/(n·Δt))³ with t0 = start and n·Δt = end − start, held
 * at its value of the last update step at or before `step` (masks change only on update steps),
 * 0 before start and s_f from end on. start = end prunes to s_f at once.
 * @example cubicSparsity(150, { start: 100, end: 300, every: 50 }, 0.8)  // 0.8·(1 − 0.75³) ≈ 0.4625
 */
export function cubicSparsity(step: number, schedule: PruneSchedule, final: number, initial = 0): number {
  const at = lastUpdateAtOrBefore(step, schedule);
  if (at === null) return 0;
  const span = schedule.end - schedule.start;
  const progress = span === 0 ? 1 : (at - schedule.start) / span;
  return final + (initial - final) * (1 - progress) ** 3;
}

/** Whether the mask is recomputed after optimizer step `step`. @example isUpdateStep(300, { start: 100, end: 300, every: 50 }) */
export function isUpdateStep(step: number, schedule: PruneSchedule): boolean {
  return lastUpdateAtOrBefore(step, schedule) === step;
}

/** The last update step ≤ step: start, start + every, …, and end (also when every does not divide end − start). */
function lastUpdateAtOrBefore(step: number, { start, end, every }: PruneSchedule): number | null {
  if (step < start) return null;
  if (step >= end) return end;
  return start + Math.floor((step - start) / every) * every;
}
