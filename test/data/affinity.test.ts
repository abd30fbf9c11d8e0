import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { Worker } from "node:worker_threads";

import type { LabelledBatch } from "../../src/data/collate.js";
import { DataLoader } from "../../src/data/dataloader.js";
import { kernels } from "../../src/backends/index.js";
import { NumberedImages } from "../helpers/numbered_images.js";

/** A kernel CPU list as numbers ("0-3,6" → [0, 1, 2, 3, 6]). */
function parseCpuList(list: string): number[] {
  return list.split(",").flatMap((part) => {
    const [from, to = from] = part.split("-").map(Number) as [number, number?];
    return Array.from({ length: to! - from + 1 }, (_, k) => from + k);
  });
}

/** The CPUs a thread may run on, from /proc. */
function cpusAllowed(tid: number | "self"): number[] {
  const status = readFileSync(tid === "self" ? "/proc/thread-self/status" : `/proc/self/task/${tid}/status`, "utf8");
  return parseCpuList(/^Cpus_allowed_list:\s*(\S+)$/m.exec(status)![1]!);
}

const linux = existsSync("/proc/thread-self/status");
const processCpus = linux ? cpusAllowed(process.pid) : [];
// Where the system has no thread affinity, or one CPU only, keeping off a CPU changes nothing.
const canKeepOff = linux && processCpus.length >= 2;

test("currentCpu names a CPU this thread may run on (-1 where the system does not say)", () => {
  if (linux) assert.ok(processCpus.includes(kernels.currentCpu()));
  else assert.equal(kernels.currentCpu(), -1);
});

test("keepOffCpu moves only the calling thread off that CPU", async () => {
  if (!canKeepOff) {
    // Nothing to move to: it reports so and leaves the thread where it may run.
    assert.equal(kernels.keepOffCpu(linux ? processCpus[0]! : 0), false);
    if (linux) assert.deepEqual(cpusAllowed("self"), processCpus);
    return;
  }
  const off = processCpus[0]!;
  const module = new URL("../../src/backends/index.js", import.meta.url).href;
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    const { readFileSync } = require("node:fs");
    import(workerData.module).then(({ kernels }) => {
      const moved = kernels.keepOffCpu(workerData.off);
      const status = readFileSync("/proc/thread-self/status", "utf8");
      parentPort.postMessage({ moved, list: /^Cpus_allowed_list:\\s*(\\S+)$/m.exec(status)[1] });
    });`;
  const result = await new Promise<{ moved: boolean; list: string }>((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { module, off } });
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  assert.equal(result.moved, true);
  assert.deepEqual(
    parseCpuList(result.list),
    processCpus.filter((cpu) => cpu !== off),
  );
  assert.deepEqual(cpusAllowed("self"), processCpus, "the main thread keeps every CPU");
});

test("a DataLoader worker runs on every CPU but the one the training thread asked from", { timeout: 60_000 }, () => {
  const loader = new DataLoader(new NumberedImages({ length: 40 }), { batchSize: 5, numWorkers: 1, prefetchFactor: 2 } as never);
  try {
    for (const batch of loader as Iterable<LabelledBatch>) {
      batch.x.dispose();
      batch.y.dispose();
    }
    if (!linux) return; // no per-thread CPU lists to read: the batches above came through
    const allowed = cpusAllowed(loader.workers!.threadId(0));
    assert.equal(allowed.length, canKeepOff ? processCpus.length - 1 : processCpus.length, `worker may run on ${allowed.join(",")}`);
    assert.ok(allowed.every((cpu) => processCpus.includes(cpu)));
  } finally {
    loader.close();
  }
});
