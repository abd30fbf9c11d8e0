/**
 * The entry of every `threads` worker: sets the rank's OpenMP threads, joins the job's
 * world group, runs the job module's `run(group, args)` and posts how it ended.
 */
import { parentPort, workerData } from "node:worker_threads";

import { kernels } from "../../backends/index.js";
import { threadsWorldGroup, type ThreadsWorkerData } from "./join.js";
import type { WorkerReport } from "./spawn.js";

const data = (workerData as { turbineThreads: ThreadsWorkerData }).turbineThreads;
kernels.setNumThreads(data.threads);
let report: WorkerReport;
try {
  const job = (await import(data.module)) as { run(group: unknown, args: unknown): unknown };
  if (typeof job.run !== "function") throw new TypeError(`threads backend: ${data.module} exports no run(group, args) function`);
  report = { ok: true, result: await job.run(threadsWorldGroup(), data.args) };
} catch (error) {
  const e = error instanceof Error ? error : new Error(String(error));
  report = { ok: false, name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
}
parentPort!.postMessage(report);
if (!report.ok) process.exitCode = 1;
