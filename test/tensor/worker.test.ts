import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker } from "node:worker_threads";

import { kernels } from "../../src/backends/index.js";
import { defaultGenerator } from "../../src/tensor/random.js";
import { runOpSequence } from "../helpers/op_sequence.js";

interface WorkerResult {
  threads: number;
  results: number[][];
}

function runInWorker(threads: number): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("../helpers/op_sequence_worker.js", import.meta.url), { workerData: { threads } });
    let result: WorkerResult | null = null;
    worker.once("message", (message: WorkerResult) => (result = message));
    worker.once("error", reject);
    worker.once("exit", (code) => (result ? resolve(result) : reject(new Error(`worker exited with code ${code} before posting results`))));
  });
}

test("a worker thread loads the addon, keeps its own thread count and computes the main thread's bits", { timeout: 120_000 }, async () => {
  const mainThreads = kernels.getNumThreads();
  // A count that differs from the main thread's, so a leak between threads would show.
  const workerThreads = mainThreads === 1 ? 2 : 1;
  const mainGenerator = defaultGenerator().getState();
  const fromWorker = await runInWorker(workerThreads);
  assert.equal(fromWorker.threads, workerThreads, "the worker's own thread count");
  assert.equal(kernels.getNumThreads(), mainThreads, "the worker changed the main thread's thread count");
  assert.deepEqual(defaultGenerator().getState(), mainGenerator, "the worker's manualSeed moved the main thread's generator");
  // oneDNN may block a matmul differently for another thread count, so compare at the same one.
  kernels.setNumThreads(workerThreads);
  let fromMain: number[][];
  try {
    fromMain = runOpSequence();
  } finally {
    kernels.setNumThreads(mainThreads);
  }
  assert.equal(fromWorker.results.length, fromMain.length);
  fromMain.forEach((bits, i) => assert.deepEqual(fromWorker.results[i], bits, `result ${i} differs between the threads`));
});
