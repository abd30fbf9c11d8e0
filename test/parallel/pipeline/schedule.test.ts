import assert from "node:assert/strict";
import { test } from "node:test";

import { planSchedule, SCHEDULES } from "../../../src/parallel/pipeline/schedule.js";
import { idleShares, peakAfterBackward, peakInFlight, replayedIdleShares, simulate, unequalIdleShares } from "../../../src/parallel/pipeline/timeline.js";

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} ≠ ${b}`);

test("gpipe and 1f1b plans: every stage idles exactly (p−1)/(m+p−1) for p = 2, 4, 8 and m = 1, 4, 8", () => {
  for (const schedule of ["gpipe", "1f1b"] as const)
    for (const p of [2, 4, 8])
      for (const m of [1, 4, 8]) {
        const shares = idleShares(simulate(planSchedule(schedule, p, m)));
        for (const [s, share] of shares.entries()) close(share, (p - 1) / (m + p - 1), `${schedule} p=${p} m=${m} stage ${s}`);
      }
});

test("interleaved plans: every stage idles exactly (p−1)/(v·m+p−1) for p = 2, 4, 8, m = 4, 8 where m is a multiple of p, and v = 2, 3", () => {
  for (const p of [2, 4, 8])
    for (const m of [4, 8].filter((m) => m % p === 0))
      for (const v of [2, 3]) {
        const shares = idleShares(simulate(planSchedule("interleaved", p, m, v)));
        for (const [s, share] of shares.entries()) close(share, (p - 1) / (v * m + p - 1), `interleaved p=${p} m=${m} v=${v} stage ${s}`);
      }
});

test("interleaved with fewer micro-batches than stages: the chain of 2·v·p chunk steps bounds it, and the plan meets that bound", () => {
  // One micro-batch must cross all v·p virtual stages forward and back, one tick each, so the
  // step takes at least 2·v·p ticks of which a stage works 2·v·m: (p−1)/(v·m+p−1) is not
  // reachable when m < p, and the plan reaches the bound instead.
  for (const p of [2, 4, 8])
    for (const m of [1, 4].filter((m) => m < p))
      for (const v of [2, 3]) {
        const timeline = simulate(planSchedule("interleaved", p, m, v));
        assert.equal(timeline.ticks, 2 * v * p + 2 * (m - 1), `p=${p} m=${m} v=${v}`);
      }
});

test("every schedule's plan runs for any m ≥ 1 (no two stages wait on each other), also m not a multiple of p", () => {
  for (const schedule of SCHEDULES)
    for (const p of [2, 3, 4, 8])
      for (let m = 1; m <= 11; m++)
        for (const v of schedule === "interleaved" ? [2, 3] : [1]) {
          const timeline = simulate(planSchedule(schedule, p, m, v));
          assert.ok(timeline.ticks >= 2 * m * v, `${schedule} p=${p} m=${m}`);
        }
});

test("laid out with backward at two ticks (as PipelineParallel runs them): gpipe and 1f1b still idle (p−1)/(m+p−1), every schedule runs, and each message leaves when its action ends", () => {
  const cost = { forward: 1, backward: 2 };
  for (const schedule of ["gpipe", "1f1b"] as const)
    for (const p of [2, 4, 8])
      for (const m of [1, 4, 8]) {
        const shares = idleShares(simulate(planSchedule(schedule, p, m), cost));
        for (const [s, share] of shares.entries()) close(share, (p - 1) / (m + p - 1), `${schedule} p=${p} m=${m} stage ${s} (backward 2 ticks)`);
      }
  for (const schedule of SCHEDULES)
    for (const p of [2, 3, 4])
      for (let m = 1; m <= 9; m++)
        for (const v of schedule === "interleaved" ? [2, 3] : [1]) {
          const timeline = simulate(planSchedule(schedule, p, m, v), cost);
          // A message at tick t comes from the action that ends with t, never earlier.
          for (const [t, list] of timeline.messages.entries())
            for (const msg of list) {
              const i = timeline.plan.actions[msg.sender]!.findIndex(
                (a) => a.kind === msg.kind && a.micro === msg.micro && a.chunk * p + msg.sender === msg.from,
              );
              const a = timeline.plan.actions[msg.sender]![i]!;
              assert.equal(timeline.start[msg.sender]![i]! + cost[a.kind] - 1, t, `${schedule} p=${p} m=${m} v=${v}`);
            }
        }
});

test("1f1b holds at most p − s micro-batches' activations on stage s while gpipe holds all m", () => {
  for (const p of [2, 4, 8])
    for (const m of [1, 4, 8, 16]) {
      assert.deepEqual(peakInFlight(planSchedule("gpipe", p, m)), Array(p).fill(m));
      assert.deepEqual(
        peakInFlight(planSchedule("1f1b", p, m)),
        Array.from({ length: p }, (_, s) => Math.min(p - s, m)),
      );
    }
});

test("1f1b's stage s reaches its peak again after a backward exactly when m > p − s (its gradients then stand beside it); gpipe never does", () => {
  for (const p of [2, 4, 8])
    for (const m of [1, 4, 8, 16]) {
      assert.deepEqual(peakAfterBackward(planSchedule("gpipe", p, m)), Array(p).fill(false));
      assert.deepEqual(
        peakAfterBackward(planSchedule("1f1b", p, m)),
        Array.from({ length: p }, (_, s) => m > p - s),
        `p ${p}, m ${m}`,
      );
    }
});

test("a plan whose orders wait on each other is refused, naming the stages and actions", () => {
  const plan = planSchedule("1f1b", 2, 2);
  // Stage 1 runs backward of micro-batch 1 before its forward of micro-batch 0 can feed it.
  plan.actions[1] = [
    { kind: "forward", micro: 1, chunk: 0 },
    { kind: "backward", micro: 1, chunk: 0 },
    { kind: "forward", micro: 0, chunk: 0 },
    { kind: "backward", micro: 0, chunk: 0 },
  ];
  plan.actions[0] = [
    { kind: "forward", micro: 0, chunk: 0 },
    { kind: "backward", micro: 0, chunk: 0 },
    { kind: "forward", micro: 1, chunk: 0 },
    { kind: "backward", micro: 1, chunk: 0 },
  ];
  assert.throws(() => simulate(plan), /cannot run: stage 0 at B0, stage 1 at F1/);
  assert.throws(() => planSchedule("gpipe", 2, 0), /microBatches must be a positive integer, got 0/);
});

test("messages: each stage's forward output goes to the next virtual stage's rank, interleaved wraps from the last rank to the first", () => {
  const timeline = simulate(planSchedule("interleaved", 2, 2, 2));
  const all = timeline.messages.flat();
  assert.equal(all.filter((msg) => msg.kind === "forward").length, 2 * 3);
  assert.ok(all.some((msg) => msg.kind === "forward" && msg.from === 1 && msg.sender === 1 && msg.receiver === 0));
  assert.ok(all.some((msg) => msg.kind === "backward" && msg.from === 2 && msg.sender === 0 && msg.receiver === 1));
});

test("stages of unequal cost: gpipe's first stage waits m·δ for a last stage whose forward is δ longer, as the closed form says; equal costs give the textbook share", () => {
  const [f, b] = [13, 28];
  for (const m of [1, 4, 8])
    for (const delta of [0, 0.5, 1]) {
      const shares = unequalIdleShares(planSchedule("gpipe", 2, m), [
        { forward: f, backward: b },
        { forward: f + delta, backward: b },
      ]);
      // Stage 1's forwards end at (m + 1)·F + m·δ; both stages' backwards follow back to back.
      const span = (m + 1) * (f + b) + m * delta;
      close(shares[0]!, (f + b + m * delta) / span, `gpipe m=${m} δ=${delta} stage 0`);
      close(shares[1]!, (f + b) / span, `gpipe m=${m} δ=${delta} stage 1`);
    }
  for (const schedule of SCHEDULES)
    for (const p of [2, 4])
      for (const m of [1, 4, 8]) {
        const v = schedule === "interleaved" ? 2 : 1;
        const plan = planSchedule(schedule, p, m, v);
        const cost = { forward: 3, backward: 7 };
        const equal = unequalIdleShares(plan, Array(p).fill(cost));
        for (const [s, share] of idleShares(simulate(plan, cost)).entries()) close(equal[s]!, share, `${schedule} p=${p} m=${m} stage ${s}`);
      }
  assert.throws(() => unequalIdleShares(planSchedule("1f1b", 4, 8), [{ forward: 1, backward: 2 }]), /1 stage costs for a plan of 4 stages/);
});

test("replayed idle shares: one slow action delays whatever waits on it, by hand for 1f1b p = 2, m = 2, and per-stage costs replay as unequalIdleShares", () => {
  // Stage 0 runs F0 F1 B0 B1, stage 1 F0 B0 F1 B1; forwards take 1, backwards 2, stage 1's F0 4.
  // Stage 1: F0 1–5, B0 5–7, F1 7–8, B1 8–10; stage 0: F0 0–1, F1 1–2, B0 7–9 (after stage 1's
  // B0), B1 10–12 (after its B1). Span 12: stage 0 busy 6, stage 1 busy 9.
  const plan = planSchedule("1f1b", 2, 2);
  assert.deepEqual(
    plan.actions.map((list) => list.map((a) => `${a.kind[0]}${a.micro}`).join(" ")),
    ["f0 f1 b0 b1", "f0 b0 f1 b1"],
  );
  const took = (s: number, a: { kind: string; micro: number }): number => (a.kind === "forward" ? (s === 1 && a.micro === 0 ? 4 : 1) : 2);
  const [stage0, stage1] = replayedIdleShares(plan, took);
  close(stage0!, 6 / 12, "stage 0");
  close(stage1!, 3 / 12, "stage 1");
  for (const schedule of SCHEDULES) {
    const planned = planSchedule(schedule, 4, 8, schedule === "interleaved" ? 2 : 1);
    const costs = [0, 1, 2, 3].map((s) => ({ forward: 3 + s / 10, backward: 7 - s / 10 }));
    const replayed = replayedIdleShares(planned, (s, a) => costs[s]![a.kind]);
    for (const [s, share] of unequalIdleShares(planned, costs).entries()) close(replayed[s]!, share, `${schedule} stage ${s}`);
  }
});
