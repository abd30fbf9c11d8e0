import assert from "node:assert/strict";
import { test } from "node:test";

import { rankProfile } from "../../src/profile/breakdown.js";
import { intersect, measure, subtract, union } from "../../src/profile/intervals.js";
import type { Recording } from "../../src/profile/recorder.js";
import { capTrace, rankTraceEvents } from "../../src/profile/trace_events.js";

const zeroBytes = { parameter: 0, gradient: 0, optimizer: 0, activation: 0, other: 0 };

test("intervals: union merges overlaps and touching ends, subtract and intersect cut at every boundary", () => {
  assert.deepEqual(
    union([
      [5, 6],
      [0, 2],
      [1, 3],
      [3, 4],
      [7, 7],
    ]),
    [
      [0, 4],
      [5, 6],
    ],
  );
  assert.deepEqual(
    subtract(
      [
        [0, 10],
        [12, 14],
      ],
      [
        [2, 3],
        [8, 13],
      ],
    ),
    [
      [0, 2],
      [3, 8],
      [13, 14],
    ],
  );
  assert.deepEqual(
    intersect(
      [
        [0, 10],
        [12, 14],
      ],
      [
        [2, 3],
        [8, 13],
      ],
    ),
    [
      [2, 3],
      [8, 10],
      [12, 13],
    ],
  );
  assert.equal(
    measure(
      union([
        [0, 2],
        [1, 3],
      ]),
    ),
    3,
  );
});

/**
 * Two steps of 100 ms. Step 1: data wait 0-20, a forward matmul 20-50 (a nested add 30-40),
 * a backward matmul 50-70 in which an all-reduce's wait blocks 60-70, optimizer 80-90. Step 2:
 * data 100-110, forward 110-170, an async all-gather issued at 120 and seen done at 150 (its
 * call blocked 120-121), optimizer 170-180.
 */
function recording(): Recording {
  return {
    steps: [
      [0, 100],
      [100, 200],
    ],
    data: [
      [0, 20],
      [100, 110],
    ],
    optimizer: [
      [80, 90],
      [170, 180],
    ],
    ops: [
      { op: "add", phase: "forward", start: 30, end: 40, depth: 1 },
      { op: "matmul", phase: "forward", start: 20, end: 50, depth: 0 },
      { op: "matmul", phase: "backward", start: 50, end: 70, depth: 0 },
      { op: "linear", phase: "forward", start: 110, end: 170, depth: 0 },
    ],
    collectives: [
      { kind: "allReduce", bytes: 400, start: 55, end: 70 },
      { kind: "allGather", bytes: 100, start: 120, end: 150 },
    ],
    blocked: [
      { kind: "allReduce", how: "wait", start: 60, end: 70 },
      { kind: "allGather", how: "call", start: 120, end: 121 },
    ],
    replay: [],
    loader: [{ worker: 1, start: 0, end: 15 }],
    memory: [],
    memoryReport: { current: { ...zeroBytes }, peak: { ...zeroBytes, activation: 64 }, total: 0, peakTotal: 64 },
  };
}

test("rankProfile: the step's time is split by priority (collective wait > data > compute > overhead), ops by self time, collectives with their overlap", () => {
  const p = rankProfile(recording(), 3);
  assert.equal(p.rank, 3);
  assert.equal(p.steps, 2);
  assert.equal(p.stepMs, 100);
  // Blocked 11 ms; data 30; compute: ops and optimizer 20-70, 80-90, 110-180 (130 ms) less the 11 blocked.
  assert.ok(Math.abs(p.shares.communication - 11 / 200) < 1e-12);
  assert.ok(Math.abs(p.shares.data - 30 / 200) < 1e-12);
  assert.ok(Math.abs(p.shares.compute - 119 / 200) < 1e-12);
  assert.ok(Math.abs(p.shares.overhead - 40 / 200) < 1e-12, "70-80, 90-100 and 180-200: 40 ms");
  assert.equal(p.optimizerMsPerStep, 10);
  const row = (op: string, phase: string) => p.ops.find((o) => o.op === op && o.phase === phase)!;
  assert.equal(row("matmul", "forward").msPerStep, 10, "the forward matmul's 30 ms less its nested add's 10, over 2 steps");
  assert.equal(row("add", "forward").msPerStep, 5);
  assert.equal(row("linear", "forward").msPerStep, 30);
  assert.equal(p.ops[0]!.op, "linear", "sorted by time");
  const ar = p.collectives.find((c) => c.kind === "allReduce")!;
  assert.equal(ar.bytesPerStep, 200);
  assert.equal(ar.blockedMsPerStep, 5);
  assert.ok(Math.abs(ar.overlapped - 5 / 15) < 1e-12, "55-60 of 55-70 ran under the backward matmul; 60-70 was the wait");
  const ag = p.collectives.find((c) => c.kind === "allGather")!;
  assert.ok(Math.abs(ag.overlapped - 29 / 30) < 1e-12, "all but its own 1 ms call overlapped the forward linear");
  assert.equal(p.peakBytes.total, 64);
});

test("rankProfile: a run that ended in its warm-up steps is an error naming it, not a division by zero", () => {
  assert.throws(() => rankProfile({ ...recording(), steps: [] }, 0), /no training step was recorded/);
});

test("trace events: one pid per rank, ops as X events with their µs duration, concurrent collectives on separate tracks; the cap drops the shortest ops first and says how many", () => {
  const events = rankTraceEvents(recording(), 1);
  assert.ok(events.every((e) => e.pid === 1));
  const matmul = events.find((e) => e.name === "matmul" && e.cat === "forward")!;
  assert.equal(matmul.ph, "X");
  assert.ok(Math.abs(matmul.dur! - 30_000) <= 1, `30 ms is 30000 µs, got ${matmul.dur}`);
  const made = events.find((e) => e.cat === "loader")!;
  assert.equal(made.tid, 1001, "loader worker 1's own track");
  assert.ok(events.some((e) => e.ph === "M" && e.tid === 1001 && e.args?.name === "loader worker 1"));
  const collectiveTracks = events.filter((e) => e.cat === "collective").map((e) => e.tid);
  assert.deepEqual(collectiveTracks, [1, 1], "the two collectives do not overlap: one track");
  const full = events.reduce((s, e) => s + JSON.stringify(e).length + 1, 0);
  const addSize = JSON.stringify(events.find((e) => e.name === "add")!).length + 1;
  const { events: kept, cap } = capTrace(events, full - addSize);
  assert.equal(cap.droppedOps, 1);
  assert.ok(!kept.some((e) => e.name === "add"), "the shortest op (10 ms) goes first");
  assert.ok(kept.some((e) => e.name === "matmul") && kept.some((e) => e.cat === "collective"));
  assert.equal(capTrace(events, full).cap.droppedOps, 0);
});
