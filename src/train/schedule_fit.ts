import type { Config } from "./config.js";

/**
 * The ways a learning-rate schedule can fail to fit its run, each as a warning naming the
 * fields: a warm-up as long as the run (the peak is never reached), a step decay whose first
 * step comes after the end, a warmup-stable-decay schedule with no stable phase left. The run
 * still goes ahead (a short trial run of a long recipe is legitimate), but the user is told.
 * @example scheduleWarnings({ warmup: 100, decay: "cosine", ... }, 20) // ["schedule.warmup 100 is not shorter than the run's 20 steps: ..."]
 */
export function scheduleWarnings(schedule: Config["schedule"], totalSteps: number): string[] {
  const warnings: string[] = [];
  const { warmup, decay } = schedule;
  if (warmup > 0 && warmup >= totalSteps) {
    warnings.push(
      `schedule.warmup ${warmup} is not shorter than the run's ${totalSteps} steps: the learning rate never reaches its peak and the ${decay} decay never starts; lower schedule.warmup or train longer`,
    );
  } else if (decay === "step" && schedule.stepSize >= totalSteps - warmup) {
    warnings.push(
      `schedule.stepSize ${schedule.stepSize} is not shorter than the ${totalSteps - warmup} steps after the warm-up: the learning rate never decays; lower schedule.stepSize or train longer`,
    );
  } else if (decay === "wsd" && warmup + Math.round(schedule.decayFraction * totalSteps) >= totalSteps) {
    warnings.push(
      `schedule.warmup ${warmup} and the decay (schedule.decayFraction ${schedule.decayFraction} of ${totalSteps} steps) leave no stable phase; lower one or train longer`,
    );
  }
  return warnings;
}
