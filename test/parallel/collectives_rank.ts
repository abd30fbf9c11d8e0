/** One rank of the threads-backend tests: runs the scenario named by args and returns what it saw. */
import type { DType } from "../../src/tensor/dtype.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { CollectiveError, type ProcessGroup } from "../../src/parallel/process_group.js";
import type { ThreadsProcessGroup } from "../../src/parallel/threads/group.js";

/** Rank r's test values: element i is (r + 1)·(i mod 97) − r, exact in bf16 for small values. */
export function rankValues(rank: number, n: number, offset = 0): number[] {
  return Array.from({ length: n }, (_, i) => (rank + 1) * ((i + offset) % 97) - rank);
}

/** Values whose sums over up to 4 ranks are exact in bf16 (integers below 256). */
export function smallValues(rank: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (rank + 1) * (i % 16));
}

function make(values: number[], dtype: DType = "float32", group?: ThreadsProcessGroup): Tensor {
  const t = group ? group.communicationBuffer([values.length], dtype) : Tensor.empty([values.length], dtype);
  const f32 = Float32Array.from(values);
  if (dtype === "float32") (t.data as Float32Array).set(f32);
  else (t.data as Uint16Array).set(new Uint16Array(f32.buffer).filter((_, i) => i % 2 === 1));
  return t;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function collectives(group: ProcessGroup, n: number): Record<string, number[]> {
  const g = group as ThreadsProcessGroup;
  const out: Record<string, number[]> = {};
  for (const op of ["sum", "mean", "max"] as const) {
    const t = make(rankValues(g.rank, n));
    g.allReduce(t, op);
    out[`allReduce.${op}`] = t.toArray();
  }
  const shared = make(rankValues(g.rank, n), "float32", g);
  const pending = g.allReduce(shared, "sum", { async: true });
  out["async.completedBeforeWait"] = [Number(pending.isCompleted())];
  pending.wait();
  out["allReduce.shared.sum"] = shared.toArray();
  const half = make(smallValues(g.rank, n), "bfloat16");
  g.allReduce(half, "sum");
  out["allReduce.bf16.sum"] = half.toArray();
  const input = make(rankValues(g.rank, n * g.size)),
    part = Tensor.empty([n]);
  g.reduceScatter(part, input, "sum");
  out["reduceScatter.sum"] = part.toArray();
  const gathered = Tensor.empty([n * g.size]);
  g.allGather(gathered, make(rankValues(g.rank, n)));
  out.allGather = gathered.toArray();
  const b = make(rankValues(g.rank, n));
  g.broadcast(b, g.size - 1);
  out.broadcast = b.toArray();
  const received = Tensor.empty([n]);
  const next = (g.rank + 1) % g.size,
    prev = (g.rank + g.size - 1) % g.size;
  const sent = g.send(make(rankValues(g.rank, n)), next, 7, { async: true });
  g.recv(received, prev, 7, { async: true }).wait();
  sent.wait();
  out.ring = received.toArray();
  g.barrier();
  const sub = g.newGroup([...Array(g.size).keys()].filter((r) => r % 2 === 1).reverse());
  if (sub) {
    const t = make([sub.rank + 1, 10 * (sub.rank + 1)]);
    sub.allReduce(t, "sum");
    out.sub = [sub.rank, sub.size, ...t.toArray()];
  }
  return out;
}

function failure(error: unknown): { name: string; message: string; peer: number | null } {
  const e = error as Error;
  return { name: e.name, message: e.message, peer: e instanceof CollectiveError ? e.peer : null };
}

export function run(group: ProcessGroup, args: { scenario: string; n?: number }): unknown {
  const t0 = performance.now();
  switch (args.scenario) {
    case "collectives":
      return collectives(group, args.n ?? 1000);
    case "loop-until-failure":
      // Runs all-reduces until one fails (a peer was terminated), and reports how.
      try {
        const t = make(rankValues(group.rank, 4096));
        for (;;) group.allReduce(t, "mean");
      } catch (error) {
        return { ...failure(error), seconds: (performance.now() - t0) / 1000 };
      }
    case "straggler":
      if (group.rank === 1) sleep(args.n ?? 3000);
      try {
        group.barrier();
        return null;
      } catch (error) {
        return { ...failure(error), seconds: (performance.now() - t0) / 1000 };
      }
    case "mismatch":
      try {
        const t = make(rankValues(group.rank, 64));
        if (group.rank === 0) group.allReduce(t, "sum");
        else group.broadcast(t, 0);
        return null;
      } catch (error) {
        return failure(error);
      }
    case "tag-mismatch":
      try {
        const t = make(rankValues(group.rank, 64));
        if (group.rank === 0) group.send(t, 1, 1);
        else group.recv(t, 0, 2);
        return null;
      } catch (error) {
        return failure(error);
      }
    default:
      throw new Error(`unknown scenario ${args.scenario}`);
  }
}
