/**
 * The pipeline bubble, measured against the plan: p stages (one worker thread each, 1 OpenMP
 * thread) run a Sequential of equal Linear+ReLU layers under a schedule for m = 1, 4, 8
 * micro-batches. Per step, a stage's idle share = 1 − its busy time (the sum of its actions'
 * durations, from timestamps) / the step's span (first action start on any stage to last end on
 * any stage); send/recv waits count as idle. The plan's share is (p−1)/(m+p−1) (gpipe, 1f1b).
 * Each stage needs a core of its own for the figures to mean anything. `--spinUs N`: how long
 * the ranks' waits spin before sleeping, in microseconds (default: the threads backend's choice,
 * 250 where every stage has a core; `--spinUs 1` is about the old sleep-at-once). Beside each
 * row, what attributes the idle time: the stage's median forward and backward (ms, per
 * micro-batch), the plan's idle share with each stage's actions taking those times (the bubble
 * of stages that do not cost the same, which the textbook share assumes away) and the measured
 * share against it, the shares of the span it spent in receives (waits included), in sends,
 * and elsewhere outside its actions (the idle share less those two), and each step replayed with
 * its own actions' times and messages arriving the moment their actions end (`replayed idle`:
 * the bubble those times imply, noise in them included) with the measured share's excess over
 * it (`hand-over`: the time between stages), both medians over the steps.
 *
 *   node dist/bench/pipeline.js --stages 2 --steps 10 [--width 1024 --rows 64 --layers 4] [--spinUs N] [--json]
 */
import { planSchedule, type ScheduleName } from "../src/parallel/pipeline/schedule.js";
import { idleShares, replayedIdleShares, simulate, unequalIdleShares } from "../src/parallel/pipeline/timeline.js";
import { startThreads } from "../src/parallel/threads/spawn.js";
import { benchOptions, median, report } from "./harness.js";
import type { PipelineBenchArgs, StageTimes } from "./pipeline_rank.js";

// spinUs 0 (not given): the backend's default.
const { ints, json } = benchOptions("pipeline", { stages: 2, steps: 10, warmup: 2, width: 1024, rows: 64, layers: 4, spinUs: 0 });
const rows: Record<string, unknown>[] = [];
for (const schedule of ["gpipe", "1f1b"] as ScheduleName[]) {
  for (const m of [1, 4, 8]) {
    const args: PipelineBenchArgs = {
      schedule,
      microBatches: m,
      rows: ints.rows,
      width: ints.width,
      layersPerStage: ints.layers,
      warmup: ints.warmup,
      steps: ints.steps,
    };
    const job = startThreads({
      size: ints.stages,
      threadsPerWorker: 1,
      module: new URL("./pipeline_rank.js", import.meta.url),
      args,
      ...(ints.spinUs > 0 ? { spinMs: ints.spinUs / 1000 } : {}),
    });
    const stages = (await job.done).map((o) => {
      if (!o.ok) throw o.error;
      return o.result as StageTimes;
    });
    const plan = planSchedule(schedule, ints.stages, m);
    const planned = idleShares(simulate(plan));
    // The same plan with each stage's own median forward and backward: the bubble its stages'
    // cost difference implies, which the textbook share leaves out.
    const atStageCosts = unequalIdleShares(
      plan,
      stages.map((t) => ({ forward: median(t.forward), backward: median(t.backward) })),
    );
    const spanOf = (step: number): number => Math.max(...stages.map((t) => t.end[step]!)) - Math.min(...stages.map((t) => t.start[step]!));
    // Each step replayed with its own actions' times and no time between stages (per step, every
    // stage's share): the rest of the measured idle share is hand-over (sends, receives, the loop).
    const replayedSteps = stages[0]!.took.map((_, step) => replayedIdleShares(plan, (r, a) => stages[r]!.took[step]![`${a.kind}${a.micro}:${a.chunk}`]!));
    for (const [s, stage] of stages.entries()) {
      const idle = stage.busy.map((busy, step) => 1 - busy / spanOf(step));
      const measured = median(idle);
      // Where the idle time went: waiting in receives (a neighbour late or slower), sending, and
      // the rest of the span outside actions and exchanges (loop, allocation, GC), as shares of the span.
      const share = (ms: number[]): number => median(ms.map((v, step) => v / spanOf(step)));
      const replayed = replayedSteps.map((shares) => shares[s]!);
      rows.push({
        schedule,
        m,
        stage: s,
        plan: planned[s]!,
        measured,
        ratio: planned[s]! > 0 ? measured / planned[s]! : null,
        atStageCosts: atStageCosts[s]!,
        stageCostRatio: atStageCosts[s]! > 0 ? measured / atStageCosts[s]! : null,
        forwardMs: median(stage.forward),
        backwardMs: median(stage.backward),
        receiving: share(stage.receiving),
        sending: share(stage.sending),
        untraced: median(stage.busy.map((busy, step) => 1 - (busy + stage.receiving[step]! + stage.sending[step]!) / spanOf(step))),
        replayed: median(replayed),
        handOver: median(idle.map((v, step) => v - replayed[step]!)),
      });
    }
  }
}
report(
  rows,
  [
    ["schedule", "schedule"],
    ["m", "m"],
    ["stage", "stage"],
    ["plan", "plan idle"],
    ["measured", "measured idle (median)"],
    ["ratio", "measured/plan"],
    ["atStageCosts", "plan at stage F/B"],
    ["stageCostRatio", "measured/that"],
    ["forwardMs", "F ms"],
    ["backwardMs", "B ms"],
    ["receiving", "in recv"],
    ["sending", "in send"],
    ["untraced", "other idle"],
    ["replayed", "replayed idle"],
    ["handOver", "hand-over"],
  ],
  json,
);
