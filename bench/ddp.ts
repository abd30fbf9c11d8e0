/**
 * Data-parallel gpt on this machine: turbine 1 worker × 1 thread, turbine 2 workers × 1 thread
 * (threads backend, DDP) and PyTorch DDP (gloo, 2 processes × 1 thread, OPENBLAS_NUM_THREADS=1,
 * bench/torch/gpt_ddp.py), each in a fresh process, alternating for --rounds rounds; prints
 * median tokens/s of the job (all ranks) and the ratios 2×1 / 1×1 and turbine 2×1 / PyTorch DDP.
 *
 *   node dist/bench/ddp.js --rounds 3 --steps 20 --warmup 5
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { startThreads } from "../src/parallel/threads/spawn.js";
import { packageRoot } from "../src/package_root.js";
import { runJson } from "./compare.js";
import { benchOptions, median, report } from "./harness.js";

const { ints, json } = benchOptions("ddp", { rounds: 3, steps: 20, warmup: 5, workers: 0 });

/** Child mode: one turbine job of `workers` ranks × 1 thread; prints the job's tokens/s. */
async function child(workers: number): Promise<void> {
  const job = startThreads({ size: workers, threadsPerWorker: 1, module: new URL("./ddp_rank.js", import.meta.url), args: { steps: ints.steps, warmup: ints.warmup } });
  const outcomes = await job.done;
  let tokens = 0, seconds = 0;
  for (const o of outcomes) {
    if (!o.ok) throw o.error;
    const r = o.result as { tokens: number; seconds: number };
    tokens += r.tokens;
    seconds = Math.max(seconds, r.seconds);
  }
  process.stdout.write(`${JSON.stringify({ throughput: tokens / seconds, unit: "tokens/s" })}\n`);
}

function turbine(workers: number): number {
  const script = fileURLToPath(import.meta.url);
  return runJson(process.execPath, [script, "--workers", String(workers), "--steps", String(ints.steps), "--warmup", String(ints.warmup)]).throughput;
}

function torchDdp(): number {
  const { OPENBLAS_CORETYPE: _c, OPENBLAS_L2_SIZE: _l, ...env } = process.env;
  const script = join(packageRoot(), "bench", "torch", "gpt_ddp.py");
  return runJson("/usr/bin/python3", [script, "--steps", String(ints.steps), "--warmup", String(ints.warmup), "--json"], { ...env, OPENBLAS_NUM_THREADS: "1" }).throughput;
}

if (ints.workers > 0 && process.argv.includes("--workers")) {
  await child(ints.workers);
} else {
  const runs: Record<string, number[]> = { one: [], two: [], torch: [] };
  for (let round = 0; round < ints.rounds; round++) {
    runs.one!.push(turbine(1));
    runs.two!.push(turbine(2));
    runs.torch!.push(torchDdp());
    process.stderr.write(`round ${round + 1}/${ints.rounds}: turbine 1×1 ${Math.round(runs.one!.at(-1)!)}, 2×1 ${Math.round(runs.two!.at(-1)!)}, PyTorch DDP ${Math.round(runs.torch!.at(-1)!)} tok/s\n`);
  }
  const [one, two, torch] = [median(runs.one!), median(runs.two!), median(runs.torch!)];
  report(
    [{ one: Math.round(one), two: Math.round(two), torch: Math.round(torch), scaling: (two / one).toFixed(2), vsTorch: (two / torch).toFixed(2) }],
    [
      ["one", "turbine 1×1 tok/s"],
      ["two", "turbine 2×1 tok/s"],
      ["torch", "PyTorch DDP 2×1 tok/s"],
      ["scaling", "2×1 / 1×1"],
      ["vsTorch", "turbine / PyTorch"],
    ],
    json,
  );
}
