import assert from "node:assert/strict";
import { test } from "node:test";

import { DEFAULT_CONFIG } from "../../src/train/config.js";
import { parseConfig } from "../../src/train/config_file.js";
import { scheduleWarnings } from "../../src/train/schedule_fit.js";

const schedule = (s: Record<string, unknown>) => parseConfig({ ...DEFAULT_CONFIG, schedule: s }, "test").schedule;

test("a schedule that fits its run gives no warning", () => {
  assert.deepEqual(scheduleWarnings(schedule({ warmup: 100, decay: "cosine" }), 101), []);
  assert.deepEqual(scheduleWarnings(schedule({ warmup: 0, decay: "constant" }), 1), []);
  assert.deepEqual(scheduleWarnings(schedule({ warmup: 10, decay: "step", stepSize: 89 }), 100), []);
  assert.deepEqual(scheduleWarnings(schedule({ warmup: 10, decay: "wsd", decayFraction: 0.2 }), 100), []);
});

test("a warm-up as long as the run, a step decay after its end, or no stable phase is named with its fields", () => {
  assert.deepEqual(scheduleWarnings(schedule({ warmup: 100, decay: "cosine" }), 100), [
    "schedule.warmup 100 is not shorter than the run's 100 steps: the learning rate never reaches its peak and the cosine decay never starts; lower schedule.warmup or train longer",
  ]);
  assert.match(
    scheduleWarnings(schedule({ warmup: 10, decay: "step", stepSize: 90 }), 100)[0]!,
    /^schedule\.stepSize 90 is not shorter than the 90 steps after the warm-up: the learning rate never decays/,
  );
  assert.match(
    scheduleWarnings(schedule({ warmup: 80, decay: "wsd", decayFraction: 0.2 }), 100)[0]!,
    /^schedule\.warmup 80 and the decay \(schedule\.decayFraction 0\.2 of 100 steps\) leave no stable phase/,
  );
});
