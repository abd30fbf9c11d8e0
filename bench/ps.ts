/**
 * Parameter server with a straggler: the mlp (examples/mlp.json, AdamW 1e-3, batch 256 per
 * worker) on `--workers` workers and `--servers` servers (threads backend, one OpenMP thread
 * each), worker 0 slowed 3× (after 10 steps it sleeps twice its own mean step time of steps 6
 * to 10 after every step); synchronous (staleness 0) against stale-synchronous (`--staleness`, default 4),
 * alternating for `--rounds` rounds; prints the wall time from the start of training to the
 * first evaluation (every `--eval-every` steps) at 88% test accuracy, median over rounds.
 *
 *   node dist/bench/ps.js --rounds 3 --workers 2 --servers 1 --staleness 4 --eval-every 50
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { startThreads } from "../src/parallel/threads/spawn.js";
import { alternate } from "./compare.js";
import { benchOptions, median, report } from "./harness.js";
import type { PsBenchArgs, PsBenchResult } from "./ps_rank.js";

const { ints, json } = benchOptions("ps", { rounds: 3, workers: 2, servers: 1, staleness: 4, "eval-every": 50, epochs: 6 });
const TARGET = 0.88;

async function trainOnce(staleness: number): Promise<PsBenchResult> {
  const outDir = mkdtempSync(join(tmpdir(), "turbine-bench-ps-"));
  try {
    const args: PsBenchArgs = {
      staleness,
      servers: ints.servers,
      target: TARGET,
      epochs: ints.epochs,
      evalEvery: ints["eval-every"],
      outDir,
      stop: new SharedArrayBuffer(4),
    };
    const job = startThreads({
      size: ints.workers + ints.servers,
      module: new URL("./ps_rank.js", import.meta.url),
      args,
      threadsPerWorker: 1,
      onLine: () => {},
    });
    const outcomes = await job.done;
    for (const o of outcomes) if (!o.ok) throw o.error;
    return outcomes[0]!.ok ? (outcomes[0]!.result as PsBenchResult) : (null as never);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

const sides = [0, ints.staleness];
const results: PsBenchResult[][] = sides.map(() => []);
// alternate() runs synchronous functions: collect the rounds' promises in its order, one at a time.
const order: number[] = [];
alternate(
  ints.rounds,
  sides.map((_, i) => () => void order.push(i)),
);
for (const i of order) {
  const r = await trainOnce(sides[i]!);
  results[i]!.push(r);
  process.stderr.write(
    `ps: staleness ${sides[i]}: ${r.secondsToTarget === null ? "never reached" : `${r.secondsToTarget.toFixed(1)} s`} to ${TARGET * 100}% (slowed worker: own step ${r.stepMs.own.toFixed(1)} ms, sleep ${r.stepMs.sleep.toFixed(1)} ms per step)\n`,
  );
}
const reached = (rs: PsBenchResult[]): number[] => rs.map((r) => r.secondsToTarget ?? Infinity);
report(
  sides.map((k, i) => ({
    staleness: k,
    seconds: median(reached(results[i]!)),
    runs: reached(results[i]!)
      .map((s) => s.toFixed(1))
      .join(" "),
    steps: results[i]!.map((r) => r.evals.find((e) => e.accuracy >= TARGET)?.step ?? "-").join(" "),
  })),
  [
    ["staleness", "staleness"],
    ["seconds", `median s to ${TARGET * 100}%`],
    ["runs", "each round (s)"],
    ["steps", "slowed worker's steps at the target"],
  ],
  json,
);
