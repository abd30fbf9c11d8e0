import assert from "node:assert/strict";
import { test } from "node:test";

import type { KernelName } from "../../src/backends/index.js";
import { planArena, withoutDeadEntries } from "../../src/compile/plan.js";
import type { Entry, KernelEntry, Operand, Trace } from "../../src/compile/trace.js";
import { Tensor } from "../../src/tensor/tensor.js";

/** A kernel entry reading and writing temporaries by id (the arguments are not looked at here). */
function kernel(reads: number[], writes: number[], writesOutside = false, name: KernelName = "unary"): KernelEntry {
  const args: Operand[] = [...reads, ...writes].map((temp) => ({ kind: "temp", temp, byteOffset: 0, length: 1, array: Float32Array }));
  return { kind: "kernel", name, args, reads, writes, writesOutside };
}

function trace(bytes: number[], entries: Entry[], outputs: number[] = []): Trace {
  return {
    entries,
    temps: bytes.map((b) => ({ bytes: b })),
    outputs: outputs.map((temp) => ({ operand: { kind: "temp", temp, byteOffset: 0, length: 1, array: Float32Array }, shape: [], dtype: "float32" })),
    handouts: [],
    problem: null,
    recordMs: 0,
  };
}

const overlaps = (a: number, aBytes: number, b: number, bBytes: number): boolean => a < b + bBytes && b < a + aBytes;

test("the arena plan shares bytes between temporaries whose lifetimes do not overlap, never between those whose do", () => {
  // t0 → t1 → t2 → t3, each read by the next: t0 and t2 never live at once, nor t1 and t3.
  const t = trace([256, 256, 256, 256], [kernel([], [0]), kernel([0], [1]), kernel([1], [2]), kernel([2], [3])], [3]);
  const plan = planArena(t, t.entries);
  for (const [a, b] of [
    [0, 1],
    [1, 2],
    [2, 3],
  ] as const) {
    assert.ok(!overlaps(plan.offsets[a]!, 256, plan.offsets[b]!, 256), `temporaries ${a} and ${b} are live together: ${plan.offsets}`);
  }
  assert.equal(plan.bytes, 512, "two slots suffice for a chain");
  // The output lives to the end: a temporary made after the chain must not take its bytes.
  const later = trace([256, 256, 256], [kernel([], [0]), kernel([0], [1]), kernel([], [2]), kernel([2], [])], [1]);
  const p = planArena(later, later.entries);
  assert.ok(!overlaps(p.offsets[1]!, 256, p.offsets[2]!, 256), "the output's bytes are not reused");
});

test("dead entries go, with what only they needed; writes outside the temporaries, hooks and outputs stay", () => {
  const leaf = Tensor.meta([1]);
  const entries: Entry[] = [
    kernel([], [0]), // feeds only the dead entry below: dead too
    kernel([0], [1]), // t1 is never read: dead
    kernel([], [2]), // read by the output's writer
    kernel([2], [3]), // the output
    kernel([], [], true), // writes a parameter
    { kind: "hook", leaf, grad: null, reads: [], writes: [] },
  ];
  const { entries: kept, removed } = withoutDeadEntries(trace([64, 64, 64, 64], entries, [3]));
  assert.equal(removed, 2);
  assert.deepEqual(kept, entries.slice(2));
});
