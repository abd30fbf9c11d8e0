/**
 * The body of a DataLoader worker thread: rebuilds the dataset from its spec, then makes the
 * batches the training thread asks for, writing them into shared slot buffers. See
 * worker_pool.ts for the protocol.
 */
import { readlinkSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { parentPort, workerData } from "node:worker_threads";

import type { BatchMaker } from "./batch_maker.js";
import { DONE, SLOT_WORDS, STATUS, STATUS_ERROR, STATUS_OK, WANT } from "./slot_protocol.js";
import type { JobMessage, WorkerErrorMessage, WorkerInit } from "./worker_pool.js";

const init = workerData as WorkerInit;
const { control, times, port, layout } = init;

/** This thread's kernel id, so the training thread can tell when the thread is gone; -1 where /proc is missing. */
function threadId(): number {
  try {
    return Number(readlinkSync("/proc/thread-self").split("/").pop()) || -1;
  } catch {
    return -1;
  }
}

function report(kind: WorkerErrorMessage["kind"], seq: number, err: unknown): void {
  const error = err as { message?: string; stack?: string; index?: number; cause?: { stack?: string } } | null;
  port.postMessage({
    kind,
    seq,
    message: error?.message ?? String(err),
    stack: error?.cause?.stack ?? error?.stack ?? "",
    index: typeof error?.index === "number" ? error.index : null,
  } satisfies WorkerErrorMessage);
}

// First of all, so the training thread can watch this thread from the start.
Atomics.store(control, init.slots * SLOT_WORDS + init.worker, threadId());

let maker: BatchMaker;
let keepOffCpu: (cpu: number) => boolean;
let fieldArray: typeof import("./layout.js").fieldArray;
try {
  const [{ kernels }, { BatchMaker }, layoutModule, { loadDataset }] = await Promise.all([
    import("../backends/index.js"),
    import("./batch_maker.js"),
    import("./layout.js"),
    import("./worker_spec.js"),
  ]);
  // Data work is one thread per worker: an OpenMP team here would compete with the training thread's.
  kernels.setNumThreads(1);
  keepOffCpu = kernels.keepOffCpu;
  fieldArray = layoutModule.fieldArray;
  maker = new BatchMaker(await loadDataset(init.spec), init.transform, init.seed);
} catch (err) {
  report("fatal", 0, err);
  throw err;
}

/** The CPU this thread was last moved off (the training thread's). */
let avoided = -1;

parentPort!.on("message", (job: JobMessage) => {
  const base = job.slot * SLOT_WORDS;
  if (Atomics.load(control, base + WANT) !== job.seq) return;
  if (job.requesterCpu >= 0 && job.requesterCpu !== avoided) {
    keepOffCpu(job.requesterCpu);
    avoided = job.requesterCpu;
  }
  let status = STATUS_OK;
  times[2 * job.slot] = performance.timeOrigin + performance.now();
  try {
    const count = job.indices.length;
    maker.fill(layout, job, fieldArray(layout.x, job.buffer, 0, count), fieldArray(layout.y, job.buffer, job.yOffset, count));
  } catch (err) {
    report("sample", job.seq, err);
    status = STATUS_ERROR;
  }
  times[2 * job.slot + 1] = performance.timeOrigin + performance.now();
  Atomics.store(control, base + STATUS, status);
  Atomics.store(control, base + DONE, job.seq);
  Atomics.notify(control, base + DONE);
});
