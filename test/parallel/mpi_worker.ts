// One rank of the mpi backend's tests, started by mpi.test.ts under mpirun:
// `node mpi_worker.js <scenario> [timeoutMs [rank 0's timeoutMs]]` (scenario module runs any rank module, see mpi_module.ts; ddp reads its arguments from TURBINE_DDP_ARGS and writes
// its result into the folder TURBINE_DDP_OUT). Each rank asserts its own results and prints one
// JSON line; a failed assertion exits non-zero, which fails the mpirun job.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CollectiveError, type ProcessGroup } from "../../src/parallel/process_group.js";
import { initMpiProcessGroup } from "../../src/parallel/mpi/index.js";
import { fromTypedArray } from "../../src/tensor/create.js";
import { DTYPES, type DType } from "../../src/tensor/dtype.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import type { DDPArgs } from "./ddp_rank.js";

const scenario = process.argv[2];
// A third argument is rank 0's own timeout: shorter, it times out and exits before the others do.
const rankZero = process.env.OMPI_COMM_WORLD_RANK === "0" && process.argv[4] !== undefined;
const group = initMpiProcessGroup({ timeoutMs: Number(rankZero ? process.argv[4] : (process.argv[3] ?? 20_000)) });
const { rank, size } = group;

/** A tensor of `dtype` holding fn(i) (small integers, exact in every dtype). */
function make(n: number, dtype: DType, fn: (i: number) => number): Tensor {
  const data = new DTYPES[dtype].array(n);
  const t = fromTypedArray(data, [n], dtype);
  const f = new Float32Array(n).map((_, i) => fn(i));
  if (dtype === "bfloat16") f.forEach((v, i) => (data[i] = new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16));
  else if (dtype === "float16") f.forEach((v, i) => (data[i] = toF16(v)));
  else data.set(f);
  return t;
}

function toF16(v: number): number {
  if (v === 0) return 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v),
    e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}

function values(t: Tensor): number[] {
  if (t.dtype === "bfloat16") return [...t.data].map((b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]!);
  if (t.dtype === "float16")
    return [...t.data].map((h) => (h & 0x8000 ? -1 : 1) * 2 ** (((h >> 10) & 31) - 15) * (1 + (h & 1023) / 1024) * (h & 0x7fff ? 1 : 0));
  return [...t.data];
}

const range = <T>(n: number, fn: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => fn(i));
const sumRanks = (fn: (r: number) => number): number => range(size, fn).reduce((a, b) => a + b, 0);

function collectives(g: ProcessGroup): void {
  const n = g.size,
    r = g.rank;
  for (const dtype of ["float32", "bfloat16", "float16", "int32"] as DType[]) {
    const t = make(6, dtype, (i) => r + 1 + i);
    g.allReduce(t, "sum");
    assert.deepEqual(
      values(t),
      range(6, (i) => (n * (n + 1)) / 2 + n * i),
      `allReduce sum ${dtype}`,
    );
    const m = make(6, dtype, (i) => ((r * 5 + i) % 7) - 3);
    g.allReduce(m, "max");
    assert.deepEqual(
      values(m),
      range(6, (i) => Math.max(...range(n, (q) => ((q * 5 + i) % 7) - 3))),
      `allReduce max ${dtype}`,
    );
    if (dtype === "int32") continue;
    const mean = make(6, dtype, (i) => 2 * (r + i));
    g.allReduce(mean, "mean");
    assert.deepEqual(
      values(mean),
      range(6, (i) => n - 1 + 2 * i),
      `allReduce mean ${dtype}`,
    );
  }
  const k = 3;
  const input = make(n * k, "float32", (j) => r * 100 + j),
    out = make(k, "float32", () => 0);
  g.reduceScatter(out, input, "sum");
  assert.deepEqual(
    values(out),
    range(k, (i) => range(n, (q) => q * 100 + r * k + i).reduce((a, b) => a + b)),
    "reduceScatter sum",
  );
  g.reduceScatter(out, input, "mean");
  assert.deepEqual(
    values(out),
    range(k, (i) => range(n, (q) => q * 100 + r * k + i).reduce((a, b) => a + b) / n),
    "reduceScatter mean",
  );
  const gathered = make(n * k, "bfloat16", () => 0);
  g.allGather(
    gathered,
    make(k, "bfloat16", (i) => r * 10 + i),
  );
  assert.deepEqual(
    values(gathered),
    range(n * k, (j) => Math.floor(j / k) * 10 + (j % k)),
    "allGather",
  );
  const b = make(5, "int32", (i) => (r === n - 1 ? 40 + i : -1));
  g.broadcast(b, n - 1);
  assert.deepEqual(
    values(b),
    range(5, (i) => 40 + i),
    "broadcast",
  );
  const incoming = make(4, "float32", () => 0);
  const recv = g.recv(incoming, (r + n - 1) % n, 5, { async: true });
  g.send(
    make(4, "float32", (i) => r * 10 + i),
    (r + 1) % n,
    5,
    { async: true },
  ).wait();
  recv.wait();
  assert.deepEqual(
    values(incoming),
    range(4, (i) => ((r + n - 1) % n) * 10 + i),
    "send/recv ring",
  );
  // Memory shared with worker threads (a SharedArrayBuffer) is reduced in place like any other.
  const shared = fromTypedArray(new Float32Array(new SharedArrayBuffer(16)).fill(r + 1), [4]);
  g.allReduce(shared, "sum");
  assert.deepEqual(
    values(shared),
    range(4, () => (n * (n + 1)) / 2),
    "allReduce on a SharedArrayBuffer",
  );
  g.barrier();
}

function asyncHandles(): void {
  const ts = range(3, (j) => make(1 << 16, "float32", (i) => rank + j + (i % 3)));
  const works = ts.map((t) => group.allReduce(t, "sum", { async: true }));
  const deadline = Date.now() + 10_000;
  // The native progress thread completes them without any wait() call.
  while (!works.every((w) => w.isCompleted())) assert.ok(Date.now() < deadline, "async allReduce never completed");
  works.forEach((w) => w.wait());
  ts.forEach((t, j) =>
    assert.equal(
      values(t)[5],
      sumRanks((q) => q + j + 2),
      "async allReduce",
    ),
  );
}

function subGroups(): void {
  const reversed = group.newGroup([size - 1, 0]);
  if (rank === size - 1 || rank === 0) {
    assert.ok(reversed !== null);
    assert.equal(reversed.rank, rank === size - 1 ? 0 : 1);
    assert.equal(reversed.size, 2);
    const t = make(2, "float32", () => rank);
    reversed.allReduce(t, "sum");
    assert.deepEqual(values(t), [size - 1, size - 1], "sub-group allReduce");
    const w = make(2, "float32", () => rank);
    reversed.broadcast(w, 0);
    assert.deepEqual(values(w), [size - 1, size - 1], "sub-group broadcast from its rank 0");
    reversed.destroy();
    assert.throws(() => reversed.barrier(), /barrier on rank \d: the group was destroyed/);
  } else assert.equal(reversed, null);
  if (size === 4) {
    const evens = group.newGroup([0, 2]),
      odds = group.newGroup([1, 3]);
    const mine = rank % 2 === 0 ? evens : odds;
    assert.equal(rank % 2 === 0 ? odds : evens, null);
    collectives(mine!);
  }
}

function errors(): void {
  assert.throws(
    () =>
      group.reduceScatter(
        make(3, "float32", () => 0),
        make(3 * size + 1, "float32", () => 0),
      ),
    /reduceScatter: input has \d+ elements; expected/,
  );
  assert.throws(
    () =>
      group.broadcast(
        make(1, "float32", () => 0),
        9,
      ),
    /broadcast: root 9 is outside 0\.\./,
  );
  assert.throws(
    () =>
      group.allReduce(
        make(1, "int32", () => 0),
        "mean",
      ),
    /allReduce: mean needs a floating dtype/,
  );
  assert.throws(
    () =>
      group.allGather(
        make(2 * size, "float32", () => 0),
        make(2, "int32", () => 0),
      ),
    /allGather: output is float32 but input is int32/,
  );
  assert.throws(() => group.newGroup([0, 0]), /newGroup: ranks \[0,0\] must be distinct/);
}

function report(extra: object = {}): void {
  console.log(JSON.stringify({ rank, size, ...extra }));
}

if (scenario === "collectives") {
  collectives(group);
  asyncHandles();
  subGroups();
  errors();
  report({ ok: true });
} else if (scenario === "timeout") {
  // Rank 0 enters an allReduce that rank 1 never joins; rank 1 waits for a message never sent.
  const started = Date.now();
  const work =
    rank === 0
      ? group.allReduce(
          make(4, "float32", () => 1),
          "sum",
          { async: true },
        )
      : group.recv(
          make(4, "float32", () => 0),
          0,
          9,
          { async: true },
        );
  try {
    work.wait();
    report({ ok: false });
  } catch (e) {
    assert.ok(e instanceof CollectiveError);
    assert.ok(e.rank === rank && e.op === (rank === 0 ? "allReduce" : "recv"));
    const again = Date.now();
    assert.throws(
      () => work.wait(),
      (x) => x === e,
      "a second wait throws the same error",
    );
    assert.ok(Date.now() - again < 100, "a second wait does not wait again");
    assert.throws(() => group.barrier(), /barrier on rank \d.*the group failed earlier/);
    report({ error: e.message, elapsedMs: Date.now() - started });
  }
} else if (scenario === "kill") {
  // Rank 1 dies mid-step; every other rank is blocked in an allReduce with it. Under mpirun's
  // default the runtime ends them; under --enable-recovery they time out.
  const t = make(1 << 18, "float32", () => 1);
  try {
    for (let step = 0; ; step++) {
      if (rank === 1 && step === 20) {
        report({ killedAt: Date.now() });
        process.kill(process.pid, "SIGKILL");
      }
      group.allReduce(t, "mean");
    }
  } catch (e) {
    report({ error: (e as Error).message, endedAt: Date.now() });
  }
} else if (scenario === "ddp") {
  // DDP's equivalence run (ddp_rank.ts, as the threads test runs it) over this mpi group; the
  // result goes to a file, as mpirun splits long output lines.
  const { run } = await import("./ddp_rank.js");
  const result = run(group, JSON.parse(process.env.TURBINE_DDP_ARGS!) as DDPArgs);
  writeFileSync(join(process.env.TURBINE_DDP_OUT!, `rank-${rank}.json`), JSON.stringify(result));
  report({ ok: true });
} else if (scenario === "module") {
  // Any rank module of this folder (mpi_module.ts): run(group, args), its result into a file.
  const { run } = (await import(`./${process.env.TURBINE_RANK_MODULE!}`)) as { run: (g: ProcessGroup, args: unknown) => unknown };
  const result = run(group, JSON.parse(process.env.TURBINE_RANK_ARGS!));
  writeFileSync(join(process.env.TURBINE_RANK_OUT!, `rank-${rank}.json`), JSON.stringify(result));
  report({ ok: true });
}
