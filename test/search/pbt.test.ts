import assert from "node:assert/strict";
import { test } from "node:test";

import { chooseDonor, PopulationBasedTraining, type Standing } from "../../src/search/pbt.js";
import { seededRandom } from "../../src/search/random.js";
import type { Job } from "../../src/search/scheduler.js";
import { parseSearchSpace } from "../../src/search/space.js";

const standing = (score: number, checkpoint: string | null, step = 100): Standing => ({ step, score, checkpoint, params: {} });
const always = (): boolean => true;

test("chooseDonor: a bottom-quantile trial copies a top-quantile trial, only one with a checkpoint that exists", () => {
  // 8 trials, quantile 0.25: the top two (0, 1) and the bottom two (6, 7).
  const standings = new Map<number, Standing>(Array.from({ length: 8 }, (_, t) => [t, standing(1 - t / 10, `ckpt-${t}`)]));
  for (let draw = 0; draw < 20; draw++) assert.ok([0, 1].includes(chooseDonor(7, standings, 0.25, always, seededRandom(draw))!));
  // A trial outside the bottom quantile goes on with its own weights.
  assert.equal(chooseDonor(5, standings, 0.25, always, seededRandom(0)), null);
  // The best trial has no checkpoint (Ray 27170): never copied, the other top trial is.
  standings.set(0, standing(1, null));
  for (let draw = 0; draw < 20; draw++) assert.equal(chooseDonor(7, standings, 0.25, always, seededRandom(draw)), 1);
  // Trial 1's checkpoint is named but gone from disk: no donor at all.
  assert.equal(
    chooseDonor(7, standings, 0.25, (path) => path !== "ckpt-1", seededRandom(0)),
    null,
  );
  // Two trials: the worse copies the better; one trial: nobody to copy.
  assert.equal(
    chooseDonor(
      1,
      new Map([
        [0, standing(2, "a")],
        [1, standing(1, "b")],
      ]),
      0.25,
      always,
      seededRandom(0),
    ),
    0,
  );
  assert.equal(chooseDonor(0, new Map([[0, standing(1, "a")]]), 0.25, always, seededRandom(0)), null);
});

test("PBT: every copy comes from a trial whose latest result had a checkpoint; explored values move ×0.8 or ×1.2, the model's stay", () => {
  const space = parseSearchSpace(
    { "optimizer.lr": { loguniform: [1e-4, 1e-1] }, "model.hidden": { int: [8, 64] }, "data.batchSize": { choice: [32, 64] } },
    "test",
  );
  const trials = 8,
    maxSteps = 400,
    perturb = 50;
  const pbt = new PopulationBasedTraining({
    trials,
    maxSteps,
    perturb,
    space,
    seed: 3,
    sample: (t) => ({ "optimizer.lr": 10 ** (-4 + (3 * t) / trials), "model.hidden": 8 + t, "data.batchSize": 32 }),
    hasCheckpoint: always,
  });
  // Odd trials never save a checkpoint; the score favours a learning rate near 1e-2.
  const checkpointOf = (job: Job): string | null => (job.trial % 2 === 0 ? `ckpt-${job.trial}-${job.toStep}` : null);
  const latest = new Map<number, { checkpoint: string | null; params: Job["params"] }>();
  const running: Job[] = [];
  let copies = 0;
  for (;;) {
    for (let job = running.length < 3 ? pbt.next() : null; job; job = running.length < 3 ? pbt.next() : null) {
      if (job.copyFrom) {
        copies++;
        const donor = latest.get(job.copyFrom.trial)!;
        assert.notEqual(donor.checkpoint, null, `trial ${job.trial} copies trial ${job.copyFrom.trial}, which has no checkpoint`);
        assert.equal(job.copyFrom.checkpoint, donor.checkpoint);
        const ratio = (job.params["optimizer.lr"] as number) / (donor.params["optimizer.lr"] as number);
        assert.ok(Math.abs(ratio - 0.8) < 1e-12 || Math.abs(ratio - 1.2) < 1e-12 || job.params["optimizer.lr"] === 0.1, `lr ×${ratio}`);
        assert.equal(job.params["model.hidden"], donor.params["model.hidden"]);
        assert.equal(job.params["data.batchSize"], donor.params["data.batchSize"]);
      }
      pbt.started(job);
      running.push(job);
    }
    const job = running.shift();
    if (!job) break;
    const lr = job.params["optimizer.lr"] as number;
    const checkpoint = checkpointOf(job);
    pbt.finished({ job, score: -Math.abs(Math.log10(lr) + 2), loss: null, accuracy: null, checkpoint });
    latest.set(job.trial, { checkpoint, params: job.params });
  }
  assert.ok(copies > 0, "the bottom quantile copied");
});
