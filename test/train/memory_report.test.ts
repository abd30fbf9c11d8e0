import assert from "node:assert/strict";
import { test } from "node:test";

import { MemoryTracker } from "../../src/tensor/memory.js";
import { formatBytes, formatPeakMemory, peakMemory } from "../../src/train/memory_report.js";

test("the peak memory report gives every category's peak and the peak held at once", () => {
  const tracker = new MemoryTracker();
  tracker.allocate("parameter", 4096);
  tracker.allocate("activation", 3 * 2 ** 20);
  tracker.free("activation", 3 * 2 ** 20);
  tracker.allocate("gradient", 4096);
  tracker.allocate("optimizer", 8192);
  const peak = peakMemory(tracker.report());
  assert.deepEqual(peak, { parameter: 4096, gradient: 4096, optimizer: 8192, activation: 3 * 2 ** 20, other: 0, total: 4096 + 3 * 2 ** 20 });
  assert.equal(
    formatPeakMemory(peak),
    "peak memory: parameters 4.00 KiB, gradients 4.00 KiB, optimizer state 8.00 KiB, activations 3.00 MiB, other 0 B; 3.00 MiB at once",
  );
  assert.deepEqual([0, 1023, 1024, 1536, 1016 * 1024, 5 * 2 ** 30].map(formatBytes), ["0 B", "1023 B", "1.00 KiB", "1.50 KiB", "1016 KiB", "5.00 GiB"]);
});
