import type { Job, Scheduler, SegmentResult } from "./scheduler.js";
import type { Params } from "./space.js";

/**
 * Asynchronous successive halving (ASHA, Li et al. 2020) and asynchronous Hyperband: a trial
 * trains to the first rung (minSteps), and whenever a segment can start, the best trial of the
 * highest rung that sits in its rung's top 1/η and was not yet promoted trains on to the next
 * rung (minSteps·η^k, the last rung the budget); only when none can be promoted does a new trial
 * start. Hyperband runs brackets of this with minimum steps minSteps·η^s, trials dealt to the
 * brackets in turn (Ray Tune's AsyncHyperBand).
 */

/**
 * The rungs' steps: minSteps·η^k below the budget, then the budget.
 * @example rungSteps(10, 3, 100) // [10, 30, 90, 100]
 */
export function rungSteps(minSteps: number, eta: number, maxSteps: number): number[] {
  const rungs: number[] = [];
  for (let r = minSteps; Math.round(r) < maxSteps; r *= eta) rungs.push(Math.round(r));
  rungs.push(maxSteps);
  return rungs;
}

/**
 * ASHA's first rung when none is given: as many rungs as the trials can fill, so that about one
 * trial reaches the budget (16 trials, η 3: rungs at max/9, max/3 and max).
 * @example defaultMinSteps(270, 3, 16) // 30
 */
export function defaultMinSteps(maxSteps: number, eta: number, trials: number): number {
  let rungs = 0;
  while (eta ** (rungs + 1) <= trials) rungs++;
  return Math.max(1, Math.round(maxSteps / eta ** rungs));
}

/**
 * ASHA's promotion rule: of a rung's trials (trial → score, higher is better), the best of the
 * top ⌊n/η⌋ not yet promoted, or null.
 * @example promotion(new Map([[0, 0.8], [1, 0.7], [2, 0.9]]), new Set(), 3) // 2
 */
export function promotion(scores: ReadonlyMap<number, number>, promoted: ReadonlySet<number>, eta: number): number | null {
  const ranked = [...scores].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const top = ranked.slice(0, Math.floor(ranked.length / eta));
  return top.find(([trial]) => !promoted.has(trial))?.[0] ?? null;
}

interface Bracket {
  rungs: number[];
  /** Per rung: trial → score of the trials that finished it (a failed one scores -Infinity). */
  scores: Map<number, number>[];
  /** Per rung: the trials that went on from it. */
  promoted: Set<number>[];
}

export interface SuccessiveHalvingOptions {
  trials: number;
  maxSteps: number;
  /** Steps of the first rung (of the first bracket). */
  minSteps: number;
  /** Reduction factor η: a rung's top 1/η go on, and rungs are η times apart. */
  eta: number;
  /** 1: ASHA; more: Hyperband's brackets, bracket s starting at minSteps·η^s. */
  brackets: number;
  sample: (trial: number) => Params;
}

/**
 * ASHA (one bracket) or asynchronous Hyperband (several).
 * @example const asha = new SuccessiveHalving({ trials: 16, maxSteps: 270, minSteps: 10, eta: 3, brackets: 1, sample });
 */
export class SuccessiveHalving implements Scheduler {
  private readonly brackets: Bracket[];
  private readonly params = new Map<number, Params>();
  private created = 0;

  constructor(private readonly options: SuccessiveHalvingOptions) {
    this.brackets = Array.from({ length: options.brackets }, (_, s) => {
      const rungs = rungSteps(options.minSteps * options.eta ** s, options.eta, options.maxSteps);
      return { rungs, scores: rungs.map(() => new Map()), promoted: rungs.map(() => new Set()) };
    });
  }

  /**
   * Hyperband's bracket count for a budget: one per power of η between minSteps and maxSteps.
   * @example SuccessiveHalving.hyperbandBrackets(10, 3, 270) // 4
   */
  static hyperbandBrackets(minSteps: number, eta: number, maxSteps: number): number {
    return rungSteps(minSteps, eta, maxSteps).length;
  }

  next(): Job | null {
    for (const [s, b] of this.brackets.entries()) {
      for (let k = b.rungs.length - 2; k >= 0; k--) {
        const trial = promotion(b.scores[k]!, b.promoted[k]!, this.options.eta);
        if (trial !== null) return { trial, params: this.params.get(trial)!, fromStep: b.rungs[k]!, toStep: b.rungs[k + 1]!, bracket: s };
      }
    }
    if (this.created >= this.options.trials) return null;
    const trial = this.created,
      bracket = trial % this.brackets.length;
    return { trial, params: this.options.sample(trial), fromStep: 0, toStep: this.brackets[bracket]!.rungs[0]!, bracket };
  }

  started(job: Job): void {
    const b = this.brackets[job.bracket ?? 0]!;
    if (job.fromStep === 0) {
      this.created = Math.max(this.created, job.trial + 1);
      this.params.set(job.trial, job.params);
    } else b.promoted[b.rungs.indexOf(job.fromStep)]?.add(job.trial);
  }

  finished(result: SegmentResult): void {
    const b = this.brackets[result.job.bracket ?? 0]!;
    b.scores[b.rungs.indexOf(result.job.toStep)]?.set(result.job.trial, result.score ?? -Infinity);
  }
}
