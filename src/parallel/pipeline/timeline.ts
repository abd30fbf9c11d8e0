import type { Action, PipelinePlan } from "./schedule.js";

/** An activation (forward) or its gradient (backward) passed between neighbouring virtual stages. */
export interface Message {
  kind: "forward" | "backward";
  micro: number;
  /** The virtual stage that produced it. */
  from: number;
  /** The ranks (stages) that send and receive it. */
  sender: number;
  receiver: number;
}

/** Ticks a forward and a backward take (a chunk's worth each). */
export interface ActionCost {
  forward: number;
  backward: number;
}

/**
 * A plan laid out in time, each action taking its cost in ticks: each action starts as soon as
 * its stage is free and its input exists.
 */
export interface Timeline {
  plan: PipelinePlan;
  cost: ActionCost;
  /** start[stage][i]: the tick action i of that stage starts. */
  start: number[][];
  /** Ticks from the first action to the end of the last. */
  ticks: number;
  /** messages[t]: what is passed at the end of tick t, in the order every rank exchanges it. */
  messages: Message[][];
}

/** The virtual stage of a stage's chunk. */
export const virtualStage = (plan: PipelinePlan, stage: number, chunk: number): number => chunk * plan.stages + stage;

const name = (a: Action): string => `${a.kind === "forward" ? "F" : "B"}${a.micro}${a.chunk > 0 ? `/chunk ${a.chunk}` : ""}`;

/**
 * When each action of the plan starts if action a of stage s takes costOf(s, a) (any unit): each starts
 * as soon as its stage is free and its input exists; forward of micro-batch i on virtual stage k
 * needs its forward on k − 1, backward on k needs the backward on k + 1 (on the last, its own
 * forward). `free[s]` is when stage s ends. Throws, naming the stages and actions that wait on
 * each other, when the plan's orders cannot all run, or when an action is missing or repeated.
 */
function layOut(plan: PipelinePlan, costOf: (stage: number, action: Action) => number): { start: number[][]; free: number[] } {
  const { stages, microBatches: m, chunks } = plan,
    virtualStages = stages * chunks;
  const finish = new Map<string, number>();
  const key = (kind: string, vs: number, micro: number): string => `${kind}${vs}:${micro}`;
  for (const [s, list] of plan.actions.entries()) {
    const seen = new Set(list.map((a) => key(a.kind, virtualStage(plan, s, a.chunk), a.micro)));
    if (seen.size !== list.length || list.length !== 2 * m * chunks || list.some((a) => a.micro < 0 || a.micro >= m || a.chunk < 0 || a.chunk >= chunks))
      throw new Error(`pipeline plan: stage ${s} must run forward and backward of each of ${m} micro-batches on each of its ${chunks} chunks once`);
  }
  const start = plan.actions.map(() => [] as number[]);
  const free = plan.actions.map(() => 0);
  const dependency = (s: number, a: Action): string => {
    const vs = virtualStage(plan, s, a.chunk);
    if (a.kind === "forward") return vs === 0 ? "" : key("forward", vs - 1, a.micro);
    return key(vs === virtualStages - 1 ? "forward" : "backward", vs === virtualStages - 1 ? vs : vs + 1, a.micro);
  };
  let done = 0;
  const total = plan.actions.reduce((n, l) => n + l.length, 0);
  while (done < total) {
    let progressed = false;
    for (let s = 0; s < stages; s++) {
      for (let i = start[s]!.length; i < plan.actions[s]!.length; i++) {
        const a = plan.actions[s]![i]!;
        const needed = dependency(s, a);
        const ready = needed === "" ? 0 : finish.get(needed);
        if (ready === undefined) break;
        const t = Math.max(free[s]!, ready);
        start[s]!.push(t);
        free[s] = t + costOf(s, a);
        finish.set(key(a.kind, virtualStage(plan, s, a.chunk), a.micro), free[s]!);
        done++;
        progressed = true;
      }
    }
    if (!progressed) {
      const waits = plan.actions
        .map((list, s) => (start[s]!.length < list.length ? `stage ${s} at ${name(list[start[s]!.length]!)}` : null))
        .filter((w) => w !== null);
      throw new Error(`pipeline plan (${plan.schedule}) cannot run: ${waits.join(", ")} each wait on an action that never comes first`);
    }
  }
  return { start, free };
}

/**
 * Simulates a plan with every stage's actions taking `cost` ticks (see layOut for the rules and
 * the errors). A message leaves at the end of its action's last tick. With every action one tick
 * (the default) the bubble is the textbook one; `PipelineParallel` lays its plan out with
 * backward at two ticks, as long as it really takes, so that a stage is not held at the tick's
 * end waiting for its neighbour's longer backward (ranks exchange each tick's messages together).
 *
 * @example simulate(planSchedule("gpipe", 2, 4)).ticks   // 2 · (4 + 2 − 1) = 10
 */
export function simulate(plan: PipelinePlan, cost: ActionCost = { forward: 1, backward: 1 }): Timeline {
  const { start, free } = layOut(plan, (_, a) => cost[a.kind]);
  const virtualStages = plan.stages * plan.chunks;
  const ticks = Math.max(...free);
  const messages: Message[][] = Array.from({ length: ticks }, () => []);
  for (const [s, list] of plan.actions.entries()) {
    for (const [i, a] of list.entries()) {
      const vs = virtualStage(plan, s, a.chunk);
      const to = a.kind === "forward" ? vs + 1 : vs - 1;
      if (to < 0 || to >= virtualStages) continue;
      messages[start[s]![i]! + cost[a.kind] - 1]!.push({ kind: a.kind, micro: a.micro, from: vs, sender: s, receiver: to % plan.stages });
    }
  }
  // One order for every rank: with blocking sends, the earliest message not yet passed always
  // has both its ranks waiting on it, so the exchange cannot hang.
  for (const list of messages) list.sort((a, b) => a.from - b.from || (a.kind === b.kind ? a.micro - b.micro : a.kind === "forward" ? -1 : 1));
  return { plan, cost, start, ticks, messages };
}

/**
 * The idle share of each stage when each action takes what it took in a run (`took(stage,
 * action)`, say its traced milliseconds) and every message arrives the moment its action ends:
 * the bubble a step's own action times imply. A measured idle share above it is time between
 * stages (sends, receives, the loop between actions); one at it is all in the actions' times.
 * @example replayedIdleShares(planSchedule("gpipe", 2, 1), (s, a) => (a.kind === "forward" ? 1 : 2 + s))   // [4/7, 3/7]: stage 0 waits for stage 1's longer backward
 */
export function replayedIdleShares(plan: PipelinePlan, took: (stage: number, action: Action) => number): number[] {
  const span = Math.max(...layOut(plan, took).free);
  return plan.actions.map((list, s) => 1 - list.reduce((busy, a) => busy + took(s, a), 0) / span);
}

/**
 * The share of the timeline each stage is idle (the pipeline bubble, per stage).
 * @example idleShares(simulate(planSchedule("1f1b", 4, 8)))   // [3/11, 3/11, 3/11, 3/11]
 */
export function idleShares(timeline: Timeline): number[] {
  return replayedIdleShares(timeline.plan, (_, a) => timeline.cost[a.kind]);
}

/**
 * The idle share of each stage when stage s's forward and backward take `costs[s]` (for example
 * its measured milliseconds per micro-batch): the bubble the plan itself implies for stages that
 * do not cost the same, where the faster stage also waits for the slower one every micro-batch.
 * With equal costs it is idleShares' textbook share.
 * @example unequalIdleShares(planSchedule("gpipe", 2, 8), [{ forward: 1, backward: 2 }, { forward: 1.1, backward: 2 }])   // [3.8/27.8, 3/27.8]: the first stage waits 0.1 for each forward
 */
export function unequalIdleShares(plan: PipelinePlan, costs: readonly ActionCost[]): number[] {
  if (costs.length !== plan.stages) throw new RangeError(`unequalIdleShares: ${costs.length} stage costs for a plan of ${plan.stages} stages`);
  return replayedIdleShares(plan, (s, a) => costs[s]![a.kind]);
}

/**
 * The most micro-batches whose activations a stage holds at once (forwards run, backwards not
 * yet), per stage: the activation memory a schedule needs, in micro-batches' worth.
 * @example peakInFlight(planSchedule("gpipe", 2, 8))   // [8, 8]
 */
export function peakInFlight(plan: PipelinePlan): number[] {
  return plan.actions.map((list) => {
    let live = 0,
      peak = 0;
    for (const a of list) {
      live += a.kind === "forward" ? 1 : -1;
      peak = Math.max(peak, live);
    }
    return peak;
  });
}

/**
 * Per stage, whether a backward runs while the stage holds its peak of micro-batches after an
 * earlier backward has run (1F1B's steady state): the parameters' gradients that the earlier
 * one made then stand beside the peak's activations. GPipe reaches its peak before any backward.
 * @example peakAfterBackward(planSchedule("1f1b", 2, 4))   // [true, true]; gpipe: [false, false]
 */
export function peakAfterBackward(plan: PipelinePlan): boolean[] {
  const peaks = peakInFlight(plan);
  return plan.actions.map((list, s) => {
    let live = 0,
      backwards = 0;
    for (const a of list) {
      if (a.kind === "backward" && live === peaks[s] && backwards > 0) return true;
      if (a.kind === "backward") backwards++;
      live += a.kind === "forward" ? 1 : -1;
    }
    return false;
  });
}
