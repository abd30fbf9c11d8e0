/**
 * A learning-rate schedule: the factor that multiplies each group's initial learning rate at
 * a 0-based step. Schedules are pure functions, so they compose and their state is the step.
 */
export type Schedule = (step: number) => number;

function checkSteps(name: string, steps: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`${name}: steps must be a positive integer, got ${steps}`);
}

/** Factor 1 throughout. @example constant() */
export const constant = (): Schedule => () => 1;

/**
 * Linear warm-up: (step + 1) / steps for the first `steps` steps, then 1 (nanoGPT's form: the
 * first step already moves).
 * @example linearWarmup(100)
 */
export function linearWarmup(steps: number): Schedule {
  checkSteps("linearWarmup", steps);
  return (step) => Math.min(1, (step + 1) / steps);
}

/**
 * Cosine from 1 down to `floor` over `steps` steps, then `floor`.
 * @example cosine(1400, 0.1)
 */
export function cosine(steps: number, floor = 0): Schedule {
  checkSteps("cosine", steps);
  return (step) => floor + (1 - floor) * 0.5 * (1 + Math.cos((Math.PI * Math.min(step, steps)) / steps));
}

/** Linear from 1 down to `floor` over `steps` steps, then `floor`. @example linearDecay(1000) */
export function linearDecay(steps: number, floor = 0): Schedule {
  checkSteps("linearDecay", steps);
  return (step) => 1 - (1 - floor) * (Math.min(step, steps) / steps);
}

/** Multiplies by `gamma` every `stepSize` steps, like torch's StepLR. @example stepDecay(30, 0.1) */
export function stepDecay(stepSize: number, gamma: number): Schedule {
  checkSteps("stepDecay", stepSize);
  return (step) => gamma ** Math.floor(step / stepSize);
}

/**
 * One schedule after another: each runs from its start step, seeing steps counted from there
 * (like torch's SequentialLR). `lengths` gives how long each but the last lasts.
 * @example sequential([linearWarmup(100), cosine(1400, 0.1)], [100])
 */
export function sequential(schedules: Schedule[], lengths: number[]): Schedule {
  if (schedules.length === 0 || lengths.length !== schedules.length - 1) {
    throw new RangeError(`sequential: ${schedules.length} schedules need ${Math.max(0, schedules.length - 1)} lengths, got ${lengths.length}`);
  }
  lengths.forEach((n) => checkSteps("sequential", n));
  return (step) => {
    let start = 0;
    for (let i = 0; i < lengths.length; i++) {
      if (step < start + lengths[i]!) return schedules[i]!(step - start);
      start += lengths[i]!;
    }
    return schedules[schedules.length - 1]!(step - start);
  };
}

/**
 * The one-cycle policy (Smith), as torch's OneCycleLR with cosine annealing: from
 * 1/divFactor up to 1 over pctStart of the run, then down to 1/(divFactor·finalDivFactor).
 * The optimizer's lr is the peak.
 * @example oneCycle(1000)
 */
export function oneCycle(totalSteps: number, pctStart = 0.3, divFactor = 25, finalDivFactor = 1e4): Schedule {
  checkSteps("oneCycle", totalSteps);
  if (!(pctStart > 0 && pctStart < 1)) throw new RangeError(`oneCycle: pctStart must be in (0, 1), got ${pctStart}`);
  const up = Math.max(1, pctStart * totalSteps - 1);
  const down = Math.max(1, totalSteps - 1 - up);
  const start = 1 / divFactor,
    end = start / finalDivFactor;
  const anneal = (from: number, to: number, t: number): number => to + ((from - to) * (1 + Math.cos(Math.PI * Math.min(1, t)))) / 2;
  return (step) => (step <= up ? anneal(start, 1, step / up) : anneal(1, end, (step - up) / down));
}

/**
 * Warm-up, a stable phase at the peak, then a decay to `floor` (the WSD schedule).
 * @example warmupStableDecay({ warmup: 100, stable: 800, decay: 100, floor: 0.1 })
 */
export function warmupStableDecay(o: { warmup: number; stable: number; decay: number; floor?: number; shape?: "linear" | "cosine" }): Schedule {
  const tail = o.shape === "cosine" ? cosine(o.decay, o.floor ?? 0) : linearDecay(o.decay, o.floor ?? 0);
  return sequential([linearWarmup(o.warmup), constant(), tail], [o.warmup, o.stable]);
}

/**
 * Applies a schedule to an optimizer: every group's lr = its initial lr × schedule(step).
 * Call step() after each optimizer step, as with PyTorch's schedulers.
 *
 * @example
 * const sched = new LRScheduler(opt, sequential([linearWarmup(100), cosine(1400, 0.1)], [100]));
 * opt.step(); sched.step();
 */
export class LRScheduler {
  private current = 0;

  constructor(
    private readonly optimizer: { paramGroups: { lr: number; initialLr: number }[] },
    private readonly schedule: Schedule,
  ) {
    this.apply();
  }

  /** Advances one step and sets the learning rates. */
  step(): void {
    this.current++;
    this.apply();
  }

  /** The learning rate of each group now. */
  get lastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): { step: number } {
    return { step: this.current };
  }

  loadStateDict(state: { step: number }): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new RangeError(`LRScheduler.loadStateDict: invalid step ${state.step}`);
    this.current = state.step;
    this.apply();
  }

  private apply(): void {
    const factor = this.schedule(this.current);
    if (!Number.isFinite(factor) || factor < 0) throw new RangeError(`LRScheduler: the schedule gave factor ${factor} at step ${this.current}`);
    for (const g of this.optimizer.paramGroups) g.lr = g.initialLr * factor;
  }
}
