/**
 * One stage of bench/pipeline.ts: a Sequential of equal Linear+ReLU layers (so every stage costs
 * the same) trained by PipelineParallel with tracing on; returns, per step after warm-up, this
 * stage's busy milliseconds and the step's first start and last end on this stage, with what
 * attributes its idle time: mean forward and backward times, the time in receives and sends,
 * and each action's time (to replay the step without hand-over).
 */
import { Sequential } from "../src/nn/containers.js";
import { ReLU } from "../src/nn/layers.js";
import { Linear } from "../src/nn/linear.js";
import { crossEntropy } from "../src/ops/loss.js";
import { AdamW } from "../src/optim/adamw.js";
import { PipelineParallel } from "../src/parallel/pipeline/pipeline.js";
import type { ScheduleName } from "../src/parallel/pipeline/schedule.js";
import type { ProcessGroup } from "../src/parallel/process_group.js";
import { manualSeed, randint, randn } from "../src/tensor/random.js";
import { tidy } from "../src/tensor/scope.js";

export interface PipelineBenchArgs {
  schedule: ScheduleName;
  microBatches: number;
  /** Rows per micro-batch. */
  rows: number;
  width: number;
  layersPerStage: number;
  warmup: number;
  steps: number;
}

export interface StageTimes {
  busy: number[];
  start: number[];
  end: number[];
  /** Per step: mean forward and backward milliseconds, and the time spent receiving (waits included) and sending. */
  forward: number[];
  backward: number[];
  receiving: number[];
  sending: number[];
  /** Per step: how long each action took, by `${kind}${micro}:${chunk}`. */
  took: Record<string, number>[];
}

export function run(group: ProcessGroup, a: PipelineBenchArgs): StageTimes {
  manualSeed(0);
  const layers = Array.from({ length: a.layersPerStage * group.size }, () => [new Linear(a.width, a.width), new ReLU()]).flat();
  const model = new Sequential(...layers);
  const optimizer = new AdamW(model.parameters(), { lr: 1e-4 });
  const pipe = new PipelineParallel(model, group, {
    schedule: a.schedule,
    microBatches: a.microBatches,
    stageLayers: Array(group.size).fill(2 * a.layersPerStage),
    trace: true,
  });
  const times: StageTimes = { busy: [], start: [], end: [], forward: [], backward: [], receiving: [], sending: [], took: [] };
  const sum = (list: { start: number; end: number }[]): number => list.reduce((s, t) => s + (t.end - t.start), 0);
  for (let step = 0; step < a.warmup + a.steps; step++) {
    const x = randn([a.rows * a.microBatches, a.width]),
      y = randint(0, a.width, [a.rows * a.microBatches]);
    // The input asks for its gradient so that the first stage's first Linear computes one too:
    // otherwise stage 0's backward is an eighth shorter than the others' and it idles by that
    // much every micro-batch, which is not the bubble this bench measures.
    x.requiresGrad = true;
    tidy(() => pipe.runMicroBatch({ x, y, loss: (m, xx, yy) => crossEntropy(m.forward(xx), yy), scaleLoss: (l) => l, autocast: (fn) => fn(), sync: true }));
    pipe.step(optimizer);
    optimizer.zeroGrad();
    x.dispose();
    y.dispose();
    if (step < a.warmup) continue;
    times.busy.push(sum(pipe.trace));
    times.forward.push(sum(pipe.trace.filter((t) => t.kind === "forward")) / a.microBatches);
    times.backward.push(sum(pipe.trace.filter((t) => t.kind === "backward")) / a.microBatches);
    times.receiving.push(sum(pipe.exchangeTrace.filter((t) => !t.sent)));
    times.sending.push(sum(pipe.exchangeTrace.filter((t) => t.sent)));
    times.took.push(Object.fromEntries(pipe.trace.map((t) => [`${t.kind}${t.micro}:${t.chunk}`, t.end - t.start])));
    times.start.push(pipe.trace[0]!.start);
    times.end.push(pipe.trace.at(-1)!.end);
  }
  return times;
}
