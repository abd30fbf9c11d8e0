import { type Random, seededRandom } from "./random.js";
import type { Job, Scheduler, SegmentResult } from "./scheduler.js";
import { type Dimension, type Params, perturbParams } from "./space.js";

/**
 * Population-based training (Jaderberg et al. 2017, as Ray Tune's PBT): the population trains in
 * intervals of `perturb` steps; after each, a trial in the bottom quantile by its latest score
 * copies a top-quantile trial's checkpoint (weights, optimizer state, step) and config, then
 * perturbs the hyperparameters ×0.8 or ×1.2. Only a trial whose checkpoint exists is ever copied
 * (Ray 27170: exploiting a trial without one).
 */

/** A trial's latest result. */
export interface Standing {
  step: number;
  score: number;
  checkpoint: string | null;
  params: Params;
}

/**
 * PBT's exploit rule: when `trial` is in the bottom quantile of the standings (higher score is
 * better; quantile size min(⌈n·q⌉, ⌊n/2⌋)), a trial of the top quantile with a checkpoint that
 * exists and that is below `maxSteps` (a copy must leave steps to train), drawn at random; else
 * null (the trial goes on with its own weights).
 * @example chooseDonor(3, standings, 0.25, existsSync, seededRandom(0, 3, 100), 400)
 */
export function chooseDonor(
  trial: number,
  standings: ReadonlyMap<number, Standing>,
  quantile: number,
  hasCheckpoint: (path: string) => boolean,
  random: Random,
  maxSteps = Number.POSITIVE_INFINITY,
): number | null {
  const ranked = [...standings].sort((a, b) => b[1].score - a[1].score || a[0] - b[0]).map(([t]) => t);
  const size = Math.min(Math.ceil(ranked.length * quantile), Math.floor(ranked.length / 2));
  if (size === 0 || !ranked.slice(ranked.length - size).includes(trial)) return null;
  const donors = ranked.slice(0, size).filter((t) => {
    const { checkpoint, step } = standings.get(t)!;
    return t !== trial && step < maxSteps && checkpoint !== null && hasCheckpoint(checkpoint);
  });
  return donors.length === 0 ? null : donors[Math.min(Math.floor(random() * donors.length), donors.length - 1)]!;
}

export interface PbtOptions {
  trials: number;
  maxSteps: number;
  /** Steps between exploit/explore decisions. */
  perturb: number;
  /** Share of the population that copies, and that is copied from (default 0.25). */
  quantile?: number;
  space: readonly Dimension[];
  sample: (trial: number) => Params;
  seed: number;
  /** Whether a checkpoint a result names is still there to copy. */
  hasCheckpoint: (path: string) => boolean;
}

/**
 * The PBT scheduler: the whole population starts first, then the trial furthest behind goes on
 * (so the population moves through the steps together), its interval planned when it starts.
 * @example const pbt = new PopulationBasedTraining({ trials: 8, maxSteps: 400, perturb: 100, space, sample, seed: 0, hasCheckpoint: existsSync });
 */
export class PopulationBasedTraining implements Scheduler {
  private created = 0;
  private readonly standings = new Map<number, Standing>();
  /** Trials whose last interval ended before the budget. */
  private readonly ready: number[] = [];

  constructor(private readonly options: PbtOptions) {}

  next(): Job | null {
    const { maxSteps, perturb, seed } = this.options;
    const until = (step: number): number => Math.min((Math.floor(step / perturb) + 1) * perturb, maxSteps);
    if (this.created < this.options.trials) return { trial: this.created, params: this.options.sample(this.created), fromStep: 0, toStep: until(0) };
    const trial = this.ready.reduce<number | undefined>(
      (low, t) => (low === undefined || this.standings.get(t)!.step < this.standings.get(low)!.step ? t : low),
      undefined,
    );
    if (trial !== undefined) {
      const own = this.standings.get(trial)!;
      const random = seededRandom(seed, trial, own.step, 1);
      const donor = chooseDonor(trial, this.standings, this.options.quantile ?? 0.25, this.options.hasCheckpoint, random, maxSteps);
      if (donor === null) return { trial, params: own.params, fromStep: own.step, toStep: until(own.step) };
      const from = this.standings.get(donor)!;
      const params = perturbParams(this.options.space, from.params, seededRandom(seed, trial, own.step, 2));
      return { trial, params, fromStep: from.step, toStep: until(from.step), copyFrom: { trial: donor, checkpoint: from.checkpoint! } };
    }
    return null;
  }

  started(job: Job): void {
    this.created = Math.max(this.created, job.trial + 1);
    const at = this.ready.indexOf(job.trial);
    if (at >= 0) this.ready.splice(at, 1);
  }

  finished(result: SegmentResult): void {
    const { job } = result;
    // A failed trial leaves the population: it is neither ranked nor copied.
    if (result.score === null) {
      this.standings.delete(job.trial);
      return;
    }
    this.standings.set(job.trial, { step: job.toStep, score: result.score, checkpoint: result.checkpoint, params: job.params });
    if (job.toStep < this.options.maxSteps) this.ready.push(job.trial);
  }
}
