/**
 * Worker-thread entry: loads the addon in this thread, sets this thread's OpenMP thread count
 * from workerData.threads, runs the op sequence and posts the thread count and the results.
 */
import { parentPort, workerData } from "node:worker_threads";

import { kernels } from "../../src/backends/index.js";
import { runOpSequence } from "./op_sequence.js";

kernels.setNumThreads((workerData as { threads: number }).threads);
parentPort!.postMessage({ threads: kernels.getNumThreads(), results: runOpSequence() });
