/**
 * What recording costs: the reference workloads' step time with the profiler's StepRecorder
 * installed (every op, region and memory sample of every timed step recorded, as `turbine
 * profile` does) against the same training without it, alternating for `--rounds` rounds (which
 * goes first alternates too). Each run trains `--warmup` untimed steps and `--steps` timed ones;
 * the table gives the median step times over rounds and their ratio, and the recorded events per
 * step. The gpt has the most ops per step (several hundred), so it shows the cost per op.
 *
 *   npx tsc -p . && node dist/bench/profile_overhead.js [--threads N] [--rounds N] [--steps N] [--warmup N] [--json]
 */
import { setOpObserver } from "../src/autograd/observer.js";
import { packageRoot } from "../src/package_root.js";
import { StepRecorder } from "../src/profile/recorder.js";
import { summarise, timeTraining } from "./data_common.js";
import { benchOptions, median, report } from "./harness.js";
import { WORKLOADS, workloadConfig } from "./workloads.js";

const { ints, json } = benchOptions("profile_overhead", { rounds: 5, steps: 20, warmup: 5 });
const { rounds, steps, warmup } = ints;

/** Median step ms of one run, with or without the recorder, and the events it recorded per step. */
function run(workload: (typeof WORKLOADS)[number], recorded: boolean): { stepMs: number; eventsPerStep: number } {
  const config = workloadConfig(workload, packageRoot(), warmup + steps);
  if (!recorded) return { stepMs: summarise(timeTraining(config, warmup)).stepMs, eventsPerStep: 0 };
  const recorder = new StepRecorder({ warmup, steps });
  const previous = setOpObserver(recorder);
  try {
    const stepMs = summarise(timeTraining(config, warmup)).stepMs;
    const r = recorder.recording();
    return { stepMs, eventsPerStep: (r.ops.length + r.memory.length + r.data.length + r.optimizer.length) / Math.max(r.steps.length, 1) };
  } finally {
    setOpObserver(previous);
  }
}

const rows = WORKLOADS.map((workload) => {
  const times = { plain: [] as number[], recorded: [] as number[] };
  let events = 0;
  for (let round = 0; round < rounds; round++) {
    for (const recorded of round % 2 === 0 ? [false, true] : [true, false]) {
      const r = run(workload, recorded);
      (recorded ? times.recorded : times.plain).push(r.stepMs);
      if (recorded) events = r.eventsPerStep;
      process.stderr.write(`${workload} round ${round + 1}/${rounds}, ${recorded ? "recorded" : "plain"}: ${r.stepMs.toFixed(2)} ms per step\n`);
    }
  }
  const plain = median(times.plain),
    recorded = median(times.recorded);
  return { workload, plainMs: plain, recordedMs: recorded, ratio: recorded / plain, eventsPerStep: events };
});
report(
  rows,
  [
    ["workload", "workload"],
    ["plainMs", "step ms"],
    ["recordedMs", "step ms, recorded"],
    ["ratio", "recorded / plain"],
    ["eventsPerStep", "events per step"],
  ],
  json,
);
