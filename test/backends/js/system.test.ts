import assert from "node:assert/strict";
import { test } from "node:test";

import { alignmentOffset, currentCpu, getNumThreads, keepOffCpu, setNumThreads } from "../../../src/backends/js/system.js";

test("the js backend runs on one thread, places nothing and needs no alignment", () => {
  setNumThreads(8);
  assert.equal(getNumThreads(), 1);
  assert.equal(currentCpu(), -1);
  assert.equal(keepOffCpu(0), false);
  assert.equal(alignmentOffset(new ArrayBuffer(100)), 0);
});

test("bad arguments are rejected as native rejects them", () => {
  assert.throws(() => setNumThreads(0), /^Error: setNumThreads: thread count must be in 1\.\.1024, got 0$/);
  assert.throws(() => setNumThreads(1.5), /^Error: setNumThreads: argument 'threads' must be an integer, got 1.5$/);
  assert.throws(() => alignmentOffset(new Float32Array(4) as unknown as ArrayBuffer), /^Error: alignmentOffset: argument must be an ArrayBuffer$/);
});
