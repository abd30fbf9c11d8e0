/**
 * The threads backend's all-reduce (sum) of a 25 MB float32 tensor on --workers ranks × 1
 * thread, against a native memcpy of the same size measured in the same run (one thread, the
 * other ranks idle). Bandwidths, as NCCL-tests define them: algorithmic = tensor bytes / time;
 * bus = algorithmic × 2(n−1)/n, the bytes each rank must move in a ring. memcpy = bytes copied /
 * time. The ratio compared with the target is algorithmic / memcpy. Two tensors are timed: one
 * in the job's shared memory (communicationBuffer, what DDP's buckets use) and an ordinary one
 * copied through the staging area.
 *
 *   node dist/bench/allreduce.js --workers 2 --rounds 20 --mb 25
 */
import { startThreads } from "../src/parallel/threads/spawn.js";
import { benchOptions, median, report } from "./harness.js";

const { ints, json } = benchOptions("allreduce", { workers: 2, rounds: 20, mb: 25 });
const bytes = ints.mb * 1e6 - ((ints.mb * 1e6) % 64);
const job = startThreads({
  size: ints.workers,
  threadsPerWorker: 1,
  module: new URL("./allreduce_rank.js", import.meta.url),
  args: { bytes, rounds: ints.rounds },
  sharedTensorBytes: Math.ceil(bytes / 2 ** 20 + 1) * 2 ** 20,
});
const outcomes = await job.done;
const results = outcomes.map((o) => {
  if (!o.ok) throw o.error;
  return o.result as Record<string, number>;
});
const seconds = (key: string): number => median(results.map((r) => r[key]!));
const memcpy = bytes / results[0]!.memcpySeconds! / 1e9;
const n = ints.workers;
const rows = (["sharedSeconds", "plainSeconds"] as const).map((key) => {
  const alg = bytes / seconds(key) / 1e9;
  return {
    tensor: key === "sharedSeconds" ? "shared memory" : "ordinary (staged)",
    ms: (seconds(key) * 1e3).toFixed(2),
    alg: alg.toFixed(2),
    bus: ((alg * 2 * (n - 1)) / n).toFixed(2),
    memcpy: memcpy.toFixed(2),
    ratio: (alg / memcpy).toFixed(2),
  };
});
report(
  rows,
  [
    ["tensor", `${(bytes / 1e6).toFixed(0)} MB all-reduce, ${n} ranks`],
    ["ms", "ms"],
    ["alg", "algbw GB/s"],
    ["bus", "busbw GB/s"],
    ["memcpy", "memcpy GB/s"],
    ["ratio", "algbw / memcpy"],
  ],
  json,
);
