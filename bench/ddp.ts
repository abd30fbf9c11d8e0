/**
 * Data-parallel gpt on this machine: turbine 1 worker × 1 thread, turbine 2 workers × 1 thread
 * (threads backend, DDP) and PyTorch DDP (gloo, 2 processes × 1 thread, OPENBLAS_NUM_THREADS=1,
 * bench/torch/gpt_ddp.py), each in a fresh process, alternating for --rounds rounds (the side
 * that goes first rotating); prints median tokens/s of the job (all ranks) and the ratios
 * 2×1 / 1×1 and turbine 2×1 / PyTorch DDP. PyTorch DDP runs with its best gradient bucket size:
 * 1, 4, 8 and 25 MB (its default; the gpt's gradients are 12.8 MB, so 25 MB is one bucket and no
 * overlap) are tried in --search-rounds interleaved rounds of short runs first.
 *
 *   node dist/bench/ddp.js --rounds 5 --steps 20 --warmup 5
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { packageRoot } from "../src/package_root.js";
import { alternate, runJson } from "./compare.js";
import { benchOptions, median, printJobThroughput, report } from "./harness.js";

const { ints, json } = benchOptions("ddp", { rounds: 5, steps: 20, warmup: 5, workers: 0, "search-rounds": 2 });
const BUCKETS_MB = [1, 4, 8, 25];

function turbine(workers: number): number {
  const script = fileURLToPath(import.meta.url);
  return runJson(process.execPath, [script, "--workers", String(workers), "--steps", String(ints.steps), "--warmup", String(ints.warmup)]).throughput;
}

function torchDdp(bucketMb: number, steps = ints.steps): number {
  const { OPENBLAS_CORETYPE: _c, OPENBLAS_L2_SIZE: _l, ...env } = process.env;
  const script = join(packageRoot(), "bench", "torch", "gpt_ddp.py");
  const args = [script, "--steps", String(steps), "--warmup", String(ints.warmup), "--bucket-mb", String(bucketMb), "--json"];
  return runJson("/usr/bin/python3", args, { ...env, OPENBLAS_NUM_THREADS: "1" }).throughput;
}

/** PyTorch DDP's fastest bucket size here, from interleaved short runs (the order rotating). */
function bestBucketMb(): number {
  const speeds: number[][] = BUCKETS_MB.map(() => []);
  alternate(
    ints["search-rounds"],
    BUCKETS_MB.map((mb, i) => () => {
      speeds[i]!.push(torchDdp(mb, Math.max(5, Math.round(ints.steps / 2))));
      process.stderr.write(`PyTorch DDP bucket ${mb} MB: ${Math.round(speeds[i]!.at(-1)!)} tok/s\n`);
    }),
  );
  const medians = speeds.map(median);
  return BUCKETS_MB[medians.indexOf(Math.max(...medians))]!;
}

if (ints.workers > 0 && process.argv.includes("--workers")) {
  await printJobThroughput(ints.workers, new URL("./ddp_rank.js", import.meta.url), { steps: ints.steps, warmup: ints.warmup });
} else {
  const bucketMb = bestBucketMb();
  const runs: Record<"one" | "two" | "torch", number[]> = { one: [], two: [], torch: [] };
  alternate(ints.rounds, [() => void runs.one.push(turbine(1)), () => void runs.two.push(turbine(2)), () => void runs.torch.push(torchDdp(bucketMb))]);
  for (let round = 0; round < ints.rounds; round++) {
    process.stderr.write(
      `round ${round + 1}/${ints.rounds}: turbine 1×1 ${Math.round(runs.one[round]!)}, 2×1 ${Math.round(runs.two[round]!)}, PyTorch DDP (${bucketMb} MB buckets) ${Math.round(runs.torch[round]!)} tok/s\n`,
    );
  }
  const [one, two, torch] = [median(runs.one), median(runs.two), median(runs.torch)];
  const range = (ratios: number[]): string => `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
  const scalingRange = range(runs.two.map((v, r) => v / runs.one[r]!)),
    vsTorchRange = range(runs.two.map((v, r) => v / runs.torch[r]!));
  report(
    [
      {
        one: Math.round(one),
        two: Math.round(two),
        torch: Math.round(torch),
        bucketMb,
        scaling: `${(two / one).toFixed(2)} (${scalingRange})`,
        vsTorch: `${(two / torch).toFixed(2)} (${vsTorchRange})`,
      },
    ],
    [
      ["one", "turbine 1×1 tok/s"],
      ["two", "turbine 2×1 tok/s"],
      ["torch", "PyTorch DDP 2×1 tok/s"],
      ["bucketMb", "PyTorch bucket MB"],
      ["scaling", "2×1 / 1×1 (range)"],
      ["vsTorch", "turbine / PyTorch (range)"],
    ],
    json,
  );
}
