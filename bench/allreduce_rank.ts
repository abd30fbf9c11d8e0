/**
 * One rank of bench/allreduce.ts: times `rounds` all-reduces of `bytes` (a tensor in shared
 * memory, as DDP's buckets, and an ordinary one copied through staging), and on rank 0 a native
 * memcpy of the same size while the others wait; returns the median seconds of each.
 */
import { kernels } from "../src/backends/index.js";
import type { ProcessGroup } from "../src/parallel/process_group.js";
import type { ThreadsProcessGroup } from "../src/parallel/threads/group.js";
import { Tensor } from "../src/tensor/tensor.js";
import { median, now } from "./harness.js";

function time(group: ProcessGroup, rounds: number, fn: () => void): number {
  const samples: number[] = [];
  for (let i = 0; i < rounds + 2; i++) {
    group.barrier();
    const t0 = now();
    fn();
    if (i >= 2) samples.push(now() - t0);
  }
  return median(samples);
}

export function run(group: ProcessGroup, args: { bytes: number; rounds: number }): Record<string, number> {
  const n = args.bytes / 4;
  const shared = (group as ThreadsProcessGroup).communicationBuffer([n], "float32");
  const plain = Tensor.empty([n], "float32");
  (shared.data as Float32Array).fill(group.rank + 1);
  (plain.data as Float32Array).fill(group.rank + 1);
  const sharedSeconds = time(group, args.rounds, () => group.allReduce(shared, "sum"));
  const plainSeconds = time(group, args.rounds, () => group.allReduce(plain, "sum"));
  const src = new Float32Array(n).fill(1),
    dst = new Float32Array(n);
  const memcpySeconds = time(group, args.rounds, () => {
    if (group.rank === 0) kernels.copyBytes(dst, src);
  });
  return { sharedSeconds, plainSeconds, memcpySeconds };
}
