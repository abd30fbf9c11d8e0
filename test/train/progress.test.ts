import assert from "node:assert/strict";
import { test } from "node:test";

import type { StepInfo } from "../../src/train/callbacks.js";
import { ConfigError } from "../../src/train/config_file.js";
import { Progress, type ProgressOptions } from "../../src/train/progress.js";
import { epochOfStep, formatDuration, formatEpochs, formatThroughput, RunningMean } from "../../src/train/progress_format.js";
import { progressMode, type ProgressOutput } from "../../src/train/progress_output.js";
import type { Trainer } from "../../src/train/trainer.js";

// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b/;

/** An output that records what is written, seen as a terminal or as a file. */
function recorder(terminal: boolean, columns?: number): ProgressOutput & { text: string } {
  const out = { terminal, columns, text: "", write: (t: string) => void (out.text += t) };
  return out;
}

/**
 * Drives a Progress through `steps` steps of a fake run whose loss at step s is s, one second of
 * wall time per step, evaluating at `evalAt` steps; returns what it wrote.
 */
function drive(
  options: Omit<ProgressOptions, "now" | "output">,
  terminal: boolean,
  steps: number,
  evalAt: number[] = [],
  startStep = 0,
  columns = 200,
): string {
  let clock = 1000;
  const output = recorder(terminal, columns);
  const progress = new Progress({ ...options, output, now: () => clock });
  progress.onTrainStart({ step: startStep } as Trainer);
  for (let step = startStep + 1; step <= startStep + steps; step++) {
    clock += 1000;
    const info: StepInfo = { step, epoch: 0, loss: step, lr: 1e-3, gradNorm: null, throughput: 2500, dataWait: 0.01, trainSeconds: step * 0.5 };
    progress.onStepEnd(info);
    if (evalAt.includes(step)) progress.onEvalEnd({ step, epoch: 0, loss: 0.25, accuracy: 0.9 });
  }
  progress.onTrainEnd();
  return output.text;
}

const run = { totalSteps: 120, stepsPerEpoch: 40, unit: "samples", every: 50 };

test("progress lines: epoch k/N from 1, mean loss of the last `every` steps, lr, labelled throughput, elapsed and remaining time", () => {
  const text = drive({ ...run, ranks: 2 }, false, 120, [40, 80, 120]);
  assert.doesNotMatch(text, ESCAPE, "a file gets no escape codes");
  const lines = text.trimEnd().split("\n");
  assert.deepEqual(lines, [
    "eval at step 40 (epoch 1/3): loss 0.2500, accuracy 90.00%",
    // losses 1..50: mean 25.5; 50 s elapsed for 50 steps, 70 to go
    "step 50/120  epoch 2/3  mean loss 25.5000  lr 1.00e-3  5000 samples/s global (2500 per rank)  elapsed 0:50  left 1:10  data wait 2.0%",
    "eval at step 80 (epoch 2/3): loss 0.2500, accuracy 90.00%",
    // losses 51..100: mean 75.5, not one batch's 100
    "step 100/120  epoch 3/3  mean loss 75.5000  lr 1.00e-3  5000 samples/s global (2500 per rank)  elapsed 1:40  left 0:20  data wait 2.0%",
    "step 120/120  epoch 3/3  mean loss 95.5000  lr 1.00e-3  5000 samples/s global (2500 per rank)  elapsed 2:00  left 0:00  data wait 2.0%",
    // the evaluation after the last epoch is in epoch 3 of 3, not a 4th
    "eval at step 120 (epoch 3/3): loss 0.2500, accuracy 90.00%",
  ]);
});

test("a resumed run counts remaining time from the steps this process trained", () => {
  const text = drive({ ...run, every: 10 }, false, 10, [], 100);
  assert.match(text, /^step 110\/120 {2}epoch 3\/3 {2}mean loss 105\.5000 {2}lr 1\.00e-3 {2}2500 samples\/s {2}elapsed 0:10 {2}left 0:10 {2}data wait 0\.2%$/m);
});

test("--no-progress (steps: false) hides the bar and the lines but not the evaluation results", () => {
  for (const terminal of [false, true]) {
    const text = drive({ ...run, steps: false }, terminal, 120, [40, 120]);
    assert.equal(
      text,
      "eval at step 40 (epoch 1/3): loss 0.2500, accuracy 90.00%\neval at step 120 (epoch 3/3): loss 0.2500, accuracy 90.00%\n",
      `terminal ${terminal}`,
    );
  }
});

test("on a terminal: a bar with the same figures; an evaluation is printed over it and the bar drawn again below", () => {
  const text = drive(run, true, 120, [60]);
  assert.match(text, ESCAPE);
  assert.doesNotMatch(text, /^step /m, "no plain lines on a terminal");
  const [before, after] = text.split("\r\x1b[2Keval at step 60 (epoch 2/3): loss 0.2500, accuracy 90.00%\n");
  assert.ok(after !== undefined, "the result erases the bar's line and takes its place");
  assert.match(before!, /epoch 1\/3 \|.*\| 0\/120 \| /, "the bar starts at step 0");
  // The bar comes back at once at the step it was at, not empty; its row is saved (ESC 7) for
  // cli-progress, which restores the saved cursor when it stops.
  assert.ok(after!.startsWith("\x1b7"), "the cursor is saved on the bar's new row");
  const redrawn = after!.split("\x1b[1G")[1]!;
  assert.match(redrawn, /^epoch 2\/3 \|.*\| 60\/120 \| mean loss 35\.5000 \| lr 1\.00e-3 \| 2500 samples\/s \| elapsed 1:00 \| left 1:00 \| data wait 2\.0%/);
  assert.match(after!, /\| 120\/120 \| mean loss 95\.5000 .*left 0:00/, "the final bar is drawn when training ends");
  assert.equal((text.match(/eval at step/g) ?? []).length, 1, "each result once");
});

test("the bar takes the width the figures leave on the terminal (10 to 40 characters; 20 when the width is unknown)", () => {
  const barWidth = (columns: number): number => {
    const last = drive(run, true, 120, [], 0, columns).split("\x1b[1G").at(-1)!;
    return /\|([░█]+)\|/.exec(last)![1]!.length;
  };
  assert.equal(barWidth(200), 40);
  assert.equal(barWidth(80), 10);
  assert.equal(barWidth(0), 20);
  const tail = "| 120/120 | mean loss 95.5000 | lr 1.00e-3 | 2500 samples/s | elapsed 2:00 | left 0:00 | data wait 2.0%";
  assert.equal(barWidth("epoch 3/3 |".length + 25 + tail.length + 1), 25);
});

test("bar or lines: a bar when stderr is a terminal, lines otherwise; $TURBINE_PROGRESS decides over either", () => {
  assert.equal(progressMode({}, true), "bar");
  assert.equal(progressMode({}, false), "lines");
  assert.equal(progressMode({ TURBINE_PROGRESS: "lines" }, true), "lines");
  assert.equal(progressMode({ TURBINE_PROGRESS: "bar" }, false), "bar");
  assert.throws(
    () => progressMode({ TURBINE_PROGRESS: "tty" }, true),
    (e: Error) => e instanceof ConfigError && e.message === 'TURBINE_PROGRESS must be "bar" or "lines", got "tty"',
  );
});

test("progress figures: durations, epochs, throughput labels, the running mean", () => {
  assert.deepEqual([0, 59.6, 75, 3600, 3661, Number.NaN].map(formatDuration), ["0:00", "1:00", "1:15", "1:00:00", "1:01:01", "?"]);
  assert.equal(formatEpochs(938, 469), "2 epochs");
  assert.equal(formatEpochs(469, 469), "1 epoch");
  assert.equal(formatEpochs(6, 469), "0.013 epochs");
  assert.equal(formatEpochs(700, 469), "1.5 epochs");
  assert.equal(formatThroughput(13_766, 1, "samples"), "13.8k samples/s");
  assert.equal(formatThroughput(13_766, 2, "tokens"), "27.5k tokens/s global (13.8k per rank)");
  assert.deepEqual(
    [0, 1, 469, 470, 1876, 1877].map((s) => epochOfStep(s, 469, 1876)),
    ["1/4", "1/4", "1/4", "2/4", "4/4", "4/4"],
  );
  assert.equal(epochOfStep(10, 469, 100), "1/1", "a run shorter than an epoch is in epoch 1 of 1");
  const mean = new RunningMean(3);
  assert.ok(Number.isNaN(mean.value));
  for (const v of [1, 2, 3, 10]) mean.push(v);
  assert.equal(mean.value, 5);
  assert.equal(mean.count, 3);
  assert.throws(() => new RunningMean(0), /window must be a positive integer, got 0/);
});
