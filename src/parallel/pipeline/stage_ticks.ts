import { performance } from "node:perf_hooks";

import type { Sequential } from "../../nn/containers.js";
import { mul } from "../../ops/binary.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { ProcessGroup } from "../process_group.js";
import type { MicroBatchRun } from "../strategy.js";
import type { TracedAction, TracedExchange } from "./pipeline_options.js";
import { StepLinks } from "./p2p.js";
import type { Action } from "./schedule.js";
import type { Message, Timeline } from "./timeline.js";

/** What one rank needs to run its part of a step's simulated timeline. */
export interface StageTicks {
  stage: number;
  stages: number;
  /** Parts of the model per rank times ranks (p·v). */
  virtualStages: number;
  /** Each micro-batch's share of the batch's rows (its loss's weight); as many as the step's micro-batches. */
  weights: readonly number[];
  group: ProcessGroup;
  timeline: Timeline;
  /** This rank's chunks, in order. */
  chunks: readonly Sequential[];
  /** The step's micro-batches of inputs and targets. */
  xs: readonly Tensor[];
  ys: readonly Tensor[];
  run: MicroBatchRun;
  /** Where to record each action's and each exchange's times (null: not traced). */
  trace: { actions: TracedAction[]; exchanges: TracedExchange[] } | null;
}

const key = (virtualStage: number, micro: number): string => `${virtualStage}:${micro}`;

function take(map: Map<string, Tensor>, k: string, what: string): Tensor {
  const t = map.get(k);
  if (!t) throw new Error(`pipeline: no ${what} for virtual stage:micro-batch ${k} (the plan and the run disagree)`);
  map.delete(k);
  return t;
}

/**
 * Runs one rank's share of a pipeline step tick by tick: its action of the tick (a chunk's
 * forward of a micro-batch, the last virtual stage's loss, or a backward from the output's
 * received gradient), then the tick's messages that it sends or receives, in the order every
 * rank shares (activations forward, their gradients back). Returns the micro-batch losses
 * computed here, each weighed by its share of the rows: the batch's mean loss (0 off the last stage).
 *
 * @example const loss = runStageTicks({ stage, stages, virtualStages, weights, group, timeline, chunks, xs, ys, run, trace: null });
 */
export function runStageTicks(s: StageTicks): number {
  const { run, chunks, xs, ys } = s;
  // This rank's action at each tick, if any.
  const actionAt = new Array<Action | undefined>(s.timeline.ticks);
  s.timeline.plan.actions[s.stage]!.forEach((a, i) => {
    actionAt[s.timeline.start[s.stage]![i]!] = a;
  });
  const inputs = new Map<string, Tensor>(),
    outputs = new Map<string, Tensor>(),
    grads = new Map<string, Tensor>();
  let lossSum = 0;
  const last = s.virtualStages - 1;
  const links = new StepLinks(s.group);
  const act = (a: Action): void => {
    const vs = a.chunk * s.stages + s.stage,
      k = key(vs, a.micro);
    if (a.kind === "forward") {
      const input = vs === 0 ? xs[a.micro]! : inputs.get(k)!;
      if (vs !== last) {
        outputs.set(
          k,
          run.autocast(() => chunks[a.chunk]!.forward(input)),
        );
        return;
      }
      const loss = run.autocast(() => run.loss(chunks[a.chunk]!, input, ys[a.micro]!));
      const weight = s.weights[a.micro]!;
      lossSum += weight * loss.item();
      outputs.set(k, run.scaleLoss(s.weights.length > 1 ? mul(loss, weight) : loss));
      return;
    }
    const out = take(outputs, k, "output");
    if (vs === last) out.backward();
    else {
      const g = take(grads, k, "output gradient");
      // A first chunk with no parameters (an mlp's Flatten) has nothing to differentiate.
      if (out.requiresGrad) out.backward(g);
      g.dispose();
    }
    out.dispose();
  };
  const exchange = (msg: Message): void => {
    const tag = (msg.from * 2 + (msg.kind === "backward" ? 1 : 0)) % 32768;
    const rows = xs[msg.micro]!.shape[0]!;
    if (msg.sender === s.stage) {
      if (msg.kind === "forward") links.send(outputs.get(key(msg.from, msg.micro))!, msg.receiver, tag, rows);
      else {
        const input = take(inputs, key(msg.from, msg.micro), "input");
        if (!input.grad) throw new Error(`pipeline: the input of virtual stage ${msg.from} got no gradient (its output does not depend on it)`);
        links.send(input.grad, msg.receiver, tag, rows);
        input.grad.dispose();
        input.dispose();
      }
    } else {
      const received = links.recv(msg.sender, tag, rows);
      if (msg.kind === "forward") {
        received.requiresGrad = true;
        inputs.set(key(msg.from + 1, msg.micro), received);
      } else grads.set(key(msg.from - 1, msg.micro), received);
    }
  };
  const now = (): number => performance.timeOrigin + performance.now();
  for (let t = 0; t < s.timeline.ticks; t++) {
    const action = actionAt[t];
    if (action && s.trace) {
      const start = now();
      act(action);
      s.trace.actions.push({ ...action, start, end: now() });
    } else if (action) act(action);
    for (const msg of s.timeline.messages[t]!) {
      if (msg.sender !== s.stage && msg.receiver !== s.stage) continue;
      if (!s.trace) {
        exchange(msg);
        continue;
      }
      const start = now();
      exchange(msg);
      s.trace.exchanges.push({ kind: msg.kind, micro: msg.micro, sent: msg.sender === s.stage, start, end: now() });
    }
  }
  return lossSum;
}
