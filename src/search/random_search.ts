import type { Job, Scheduler } from "./scheduler.js";
import type { Params } from "./space.js";

/**
 * Random search: each of `trials` trials trains once, to the budget.
 * @example const s = new RandomSearch({ trials: 16, maxSteps: 600, sample: (t) => sampleParams(space, seededRandom(0, t)) });
 */
export class RandomSearch implements Scheduler {
  private created = 0;

  constructor(private readonly options: { trials: number; maxSteps: number; sample: (trial: number) => Params }) {}

  next(): Job | null {
    if (this.created >= this.options.trials) return null;
    const trial = this.created;
    return { trial, params: this.options.sample(trial), fromStep: 0, toStep: this.options.maxSteps };
  }

  started(job: Job): void {
    this.created = Math.max(this.created, job.trial + 1);
  }

  finished(): void {}
}
