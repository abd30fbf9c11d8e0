import assert from "node:assert/strict";
import { test } from "node:test";

import type { Job, SegmentResult } from "../../src/search/scheduler.js";
import { defaultMinSteps, promotion, rungSteps, SuccessiveHalving } from "../../src/search/successive_halving.js";

// ASHA's rules on a synthetic objective, no training: trial t has a quality q_t, and its score
// after s steps is q_t · (1 − e^(−s/40)), so every rung ranks the trials as their qualities do.

const quality = (trial: number): number => ((trial * 7919) % 101) / 101;
const score = (job: Job): number => quality(job.trial) * (1 - Math.exp(-job.toStep / 40));

/**
 * Runs a scheduler to its end, `parallel` segments in flight, finishing the oldest first; `check`
 * sees each job handed out with the scores each rung's step had then. Returns the finished segments in order.
 */
function drive(scheduler: SuccessiveHalving, parallel: number, check: (job: Job, rungs: Map<number, Map<number, number>>) => void = () => {}): Job[] {
  const running: Job[] = [],
    done: Job[] = [];
  const rungs = new Map<number, Map<number, number>>();
  for (;;) {
    for (let job = running.length < parallel ? scheduler.next() : null; job; job = running.length < parallel ? scheduler.next() : null) {
      check(job, rungs);
      scheduler.started(job);
      running.push(job);
    }
    const job = running.shift();
    if (!job) return done;
    const result: SegmentResult = { job, score: score(job), loss: null, accuracy: null, checkpoint: null };
    scheduler.finished(result);
    if (!rungs.has(job.toStep)) rungs.set(job.toStep, new Map());
    rungs.get(job.toStep)!.set(job.trial, score(job));
    done.push(job);
  }
}

test("promotion: the best not yet promoted of a rung's top ⌊n/η⌋, never below it", () => {
  const rung = new Map([
    [0, 0.5],
    [1, 0.9],
    [2, 0.7],
    [3, 0.8],
    [4, 0.1],
    [5, 0.2],
  ]);
  assert.equal(promotion(rung, new Set(), 3), 1);
  assert.equal(promotion(rung, new Set([1]), 3), 3);
  // ⌊6/3⌋ = 2: the third best (trial 2) is not promoted even when the two above it are.
  assert.equal(promotion(rung, new Set([1, 3]), 3), null);
  // Fewer results than η: nobody is in the top third yet.
  assert.equal(
    promotion(
      new Map([
        [0, 1],
        [1, 0],
      ]),
      new Set(),
      3,
    ),
    null,
  );
  // Ties go to the earlier trial.
  assert.equal(
    promotion(
      new Map([
        [4, 0.5],
        [2, 0.5],
        [3, 0.1],
      ]),
      new Set(),
      3,
    ),
    2,
  );
});

test("rungs: minSteps·η^k below the budget, then the budget; the default first rung fits the trials", () => {
  assert.deepEqual(rungSteps(10, 3, 100), [10, 30, 90, 100]);
  assert.deepEqual(rungSteps(30, 3, 270), [30, 90, 270]);
  assert.deepEqual(rungSteps(5, 2, 5), [5]);
  assert.equal(defaultMinSteps(270, 3, 16), 30);
  assert.equal(defaultMinSteps(270, 3, 27), 10);
  assert.equal(defaultMinSteps(10, 3, 2), 10);
});

test("ASHA: every promotion is in its rung's top 1/η when made; the best trial reaches the budget on a fraction of the steps", () => {
  const trials = 16,
    maxSteps = 270,
    eta = 3;
  const scheduler = new SuccessiveHalving({ trials, maxSteps, minSteps: defaultMinSteps(maxSteps, eta, trials), eta, brackets: 1, sample: (t) => ({ t }) });
  const done = drive(scheduler, 2, (job, rungs) => {
    if (job.fromStep === 0) return;
    const rung = [...(rungs.get(job.fromStep) ?? new Map<number, number>())].sort((a, b) => b[1] - a[1]);
    const top = rung.slice(0, Math.floor(rung.length / eta)).map(([t]) => t);
    assert.ok(top.includes(job.trial), `trial ${job.trial} promoted from step ${job.fromStep} outside the top ${top.length} of ${rung.length}`);
  });
  const best = Array.from({ length: trials }, (_, t) => t).sort((a, b) => quality(b) - quality(a))[0]!;
  const reached = Math.max(...done.filter((j) => j.trial === best).map((j) => j.toStep));
  assert.equal(reached, maxSteps, "the best trial trains to the budget");
  assert.equal(new Set(done.map((j) => j.trial)).size, trials, "every trial starts");
  const steps = done.reduce((n, j) => n + j.toStep - j.fromStep, 0);
  assert.ok(steps <= 0.4 * trials * maxSteps, `ASHA trained ${steps} steps, random search ${trials * maxSteps}`);
  // No segment is handed out twice.
  assert.equal(new Set(done.map((j) => `${j.trial}:${j.toStep}`)).size, done.length);
});

test("Hyperband: brackets start at minSteps·η^s, trials dealt to them in turn, each bracket promoting within itself", () => {
  const scheduler = new SuccessiveHalving({
    trials: 12,
    maxSteps: 90,
    minSteps: 10,
    eta: 3,
    brackets: SuccessiveHalving.hyperbandBrackets(10, 3, 90),
    sample: (t) => ({ t }),
  });
  const done = drive(scheduler, 3);
  const firsts = done.filter((j) => j.fromStep === 0);
  for (const j of firsts) assert.equal(j.bracket, j.trial % 3);
  assert.deepEqual([...new Set(firsts.map((j) => `${j.bracket}:${j.toStep}`))].sort(), ["0:10", "1:30", "2:90"]);
  // A promotion never moves a trial into another bracket's rungs.
  for (const j of done.filter((j) => j.fromStep > 0)) assert.equal(j.bracket, j.trial % 3);
});

test("a fresh scheduler given the handed-out and finished segments (a resumed search) hands out the same next segment", () => {
  const options = { trials: 9, maxSteps: 90, minSteps: 10, eta: 3, brackets: 1, sample: (t: number) => ({ t }) };
  const first = new SuccessiveHalving(options),
    replayed = new SuccessiveHalving(options);
  const log: ({ started: Job } | { finished: SegmentResult })[] = [];
  for (let i = 0; i < 6; i++) {
    const job = first.next()!;
    first.started(job);
    log.push({ started: job });
    const result = { job, score: score(job), loss: null, accuracy: null, checkpoint: null };
    first.finished(result);
    log.push({ finished: result });
  }
  for (const entry of log) "started" in entry ? replayed.started(entry.started) : replayed.finished(entry.finished);
  assert.deepEqual(replayed.next(), first.next());
});
