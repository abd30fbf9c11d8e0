/**
 * One rank of the planner's ZeRO-3 calibration (measure.ts): the seconds of forward and
 * backward of a stack of small Linear layers under ZeRO-3 and under DDP, the 25th percentile of
 * their calls. The layers are tiny, so the difference is what ZeRO-3 costs per unit beyond its
 * bytes: each unit gathered for forward and again for backward (a buffer, its views, the saved
 * tensors' repacking, a rendezvous per collective) and its gradients reduce-scattered. Every
 * rank runs the same calls, so none waits on a collective another never starts.
 */
import { performance } from "node:perf_hooks";

import { Sequential } from "../nn/containers.js";
import { Linear } from "../nn/linear.js";
import { sum } from "../ops/reduce.js";
import { DistributedDataParallel } from "../parallel/ddp.js";
import type { ProcessGroup } from "../parallel/process_group.js";
import type { Strategy } from "../parallel/strategy.js";
import { ZeroDataParallel } from "../parallel/zero/zero.js";
import { randn } from "../tensor/random.js";

const CALLS = 21;

function stepSeconds(group: ProcessGroup, strategy: Strategy, width: number): number {
  const x = randn([4, width]);
  const samples: number[] = [];
  for (let i = 0; i < CALLS + 2; i++) {
    group.barrier();
    const t0 = performance.now();
    const loss = sum((strategy.module as Sequential).forward(x));
    strategy.backward(loss);
    loss.dispose();
    if (i >= 2) samples.push((performance.now() - t0) / 1000);
  }
  x.dispose();
  strategy.dispose();
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 4)]!;
}

export function run(group: ProcessGroup, args: { layers: number; width: number }): { zero3: number; ddp: number } {
  const stack = (): Sequential => new Sequential(...Array.from({ length: args.layers }, () => new Linear(args.width, args.width)));
  const zero3 = stepSeconds(group, new ZeroDataParallel(stack(), group, { stage: 3 }), args.width);
  const ddp = stepSeconds(group, new DistributedDataParallel(stack(), group), args.width);
  return { zero3, ddp };
}
