/**
 * Pacing functions of curriculum learning: g(t), the share of the way from the easiest start
 * to the full task that training has reached at time t (a step or an epoch), from g(0) =
 * `start` to g(t) = 1 for t ≥ `steps`. A curriculum admits the ⌈g(t)·N⌉ easiest of N samples
 * (Hacohen and Weinshall, "On the Power of Curriculum Learning", ICML 2019, whose pacing
 * function gives the size of the data pool at each step; Wu, Dyer and Neyshabur, "When Do
 * Curricula Work?", ICLR 2021, compare these families); a sequence-length warm-up grows the
 * context with the same functions.
 *
 * - linear: start + (1 − start)·t/steps
 * - root:   √(start² + (1 − start²)·t/steps), the "competence" of Platanios et al. (NAACL
 *           2019): fast at first, when every new sample is new to the model, then slower
 * - step:   start + (1 − start)·⌊stages·t/steps⌋/stages, the pool growing in `stages` jumps
 */

export const PACINGS = ["linear", "root", "step"] as const;
export type PacingKind = (typeof PACINGS)[number];

export interface PacingOptions {
  kind?: PacingKind;
  /** g(0), in (0, 1]. */
  start: number;
  /** The time at which g reaches 1 (≥ 1). */
  steps: number;
  /** Jumps of the step pacing (default 4). */
  stages?: number;
}

/**
 * The pacing function of `options` (default linear), checked.
 *
 * @example
 * const g = pacing({ kind: "root", start: 0.2, steps: 1000 });
 * g(0);    // 0.2
 * g(1000); // 1
 */
export function pacing(options: PacingOptions): (t: number) => number {
  const { kind = "linear", start, steps, stages = 4 } = options;
  if (!PACINGS.includes(kind)) throw new RangeError(`pacing: kind must be one of ${PACINGS.join(", ")}, got ${JSON.stringify(kind)}`);
  if (typeof start !== "number" || !(start > 0 && start <= 1)) throw new RangeError(`pacing: start must be in (0, 1], got ${start}`);
  if (!Number.isSafeInteger(steps) || steps < 1) throw new RangeError(`pacing: steps must be a positive integer, got ${steps}`);
  if (!Number.isSafeInteger(stages) || stages < 1) throw new RangeError(`pacing: stages must be a positive integer, got ${stages}`);
  return (t: number): number => {
    if (!(t >= 0)) throw new RangeError(`pacing: time must be ≥ 0, got ${t}`);
    const progress = Math.min(t / steps, 1);
    if (kind === "root") return Math.sqrt(start * start + (1 - start * start) * progress);
    if (kind === "step") return start + ((1 - start) * Math.floor(stages * progress)) / stages;
    return start + (1 - start) * progress;
  };
}
