/**
 * Data-parallel gpt on this machine: turbine 1 worker × 1 thread, turbine 2 workers × 1 thread
 * (threads backend, DDP) and PyTorch DDP (gloo, 2 processes × 1 thread, OPENBLAS_NUM_THREADS=1,
 * bench/torch/gpt_ddp.py), each in a fresh process, alternating for --rounds rounds (the side
 * that goes first rotating); prints median tokens/s of the job (all ranks) and the ratios
 * 2×1 / 1×1 and turbine 2×1 / PyTorch DDP. PyTorch DDP runs with its best gradient bucket size:
 * 1, 4, 8 and 25 MB (its default; the gpt's gradients are 12.8 MB, so 25 MB is one bucket and no
 * overlap) are tried in --search-rounds interleaved rounds of short runs first. `--compile` adds
 * turbine 2 × 1 with its step compiled (`train.compile`) as a fourth side of the alternation.
 * `--alone` adds turbine 2 × 1 with no communication (each rank trains its own replica on its
 * shard, the same work): the ceiling of DDP on this machine's two cores, so the table splits
 * DDP's own cost (2×1 / alone) from what two busy cores cost one rank (alone / 2 × 1×1).
 *
 *   node dist/bench/ddp.js --rounds 5 --steps 20 --warmup 5 [--compile] [--alone]
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { packageRoot } from "../src/package_root.js";
import { alternate, runJson } from "./compare.js";
import { benchOptions, median, printJobThroughput, report } from "./harness.js";

const { ints, json, flags } = benchOptions("ddp", { rounds: 5, steps: 20, warmup: 5, workers: 0, "search-rounds": 2 }, {}, ["compile", "alone"]);
// A compiled step records its first two steps eagerly; timing them would time the recording.
if (flags.compile && ints.warmup < 3) throw new RangeError(`ddp: --compile needs --warmup of at least 3, got ${ints.warmup}`);
const BUCKETS_MB = [1, 4, 8, 25];

function turbine(workers: number, side: { compiled?: boolean; alone?: boolean } = {}): number {
  const script = fileURLToPath(import.meta.url);
  const args = [script, "--workers", String(workers), "--steps", String(ints.steps), "--warmup", String(ints.warmup)];
  if (side.compiled) args.push("--compile");
  if (side.alone) args.push("--alone");
  return runJson(process.execPath, args).throughput;
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
  await printJobThroughput(ints.workers, new URL("./ddp_rank.js", import.meta.url), {
    steps: ints.steps,
    warmup: ints.warmup,
    compile: flags.compile,
    alone: flags.alone,
  });
} else {
  const bucketMb = bestBucketMb();
  const runs: Record<"one" | "two" | "compiled" | "alone" | "torch", number[]> = { one: [], two: [], compiled: [], alone: [], torch: [] };
  alternate(ints.rounds, [
    () => void runs.one.push(turbine(1)),
    () => void runs.two.push(turbine(2)),
    ...(flags.compile ? [() => void runs.compiled.push(turbine(2, { compiled: true }))] : []),
    ...(flags.alone ? [() => void runs.alone.push(turbine(2, { alone: true }))] : []),
    () => void runs.torch.push(torchDdp(bucketMb)),
  ]);
  for (let round = 0; round < ints.rounds; round++) {
    const compiled = flags.compile ? `, 2×1 compiled ${Math.round(runs.compiled[round]!)}` : "";
    const alone = flags.alone ? `, 2×1 alone ${Math.round(runs.alone[round]!)}` : "";
    process.stderr.write(
      `round ${round + 1}/${ints.rounds}: turbine 1×1 ${Math.round(runs.one[round]!)}, 2×1 ${Math.round(runs.two[round]!)}${compiled}${alone}, PyTorch DDP (${bucketMb} MB buckets) ${Math.round(runs.torch[round]!)} tok/s\n`,
    );
  }
  const [one, two, torch] = [median(runs.one), median(runs.two), median(runs.torch)];
  /** The ratio of the medians of a and b, with the range of the rounds' own ratios. */
  const ratio = (a: number[], b: number[]): string => {
    const each = a.map((v, r) => v / b[r]!);
    return `${(median(a) / median(b)).toFixed(2)} (${Math.min(...each).toFixed(2)}–${Math.max(...each).toFixed(2)})`;
  };
  const row: Record<string, unknown> = {
    one: Math.round(one),
    two: Math.round(two),
    torch: Math.round(torch),
    bucketMb,
    scaling: ratio(runs.two, runs.one),
    vsTorch: ratio(runs.two, runs.torch),
  };
  const columns: [string, string][] = [
    ["one", "turbine 1×1 tok/s"],
    ["two", "turbine 2×1 tok/s"],
    ["torch", "PyTorch DDP 2×1 tok/s"],
    ["bucketMb", "PyTorch bucket MB"],
    ["scaling", "2×1 / 1×1 (range)"],
    ["vsTorch", "turbine / PyTorch (range)"],
  ];
  if (flags.compile) {
    row.compiled = Math.round(median(runs.compiled));
    row.compiledVsTorch = ratio(runs.compiled, runs.torch);
    columns.push(["compiled", "turbine 2×1 compiled tok/s"], ["compiledVsTorch", "compiled / PyTorch (range)"]);
  }
  if (flags.alone) {
    row.alone = Math.round(median(runs.alone));
    row.ddpOfAlone = ratio(runs.two, runs.alone);
    row.aloneVsTorch = ratio(runs.alone, runs.torch);
    columns.push(["alone", "turbine 2×1 alone tok/s"], ["ddpOfAlone", "2×1 / alone (range)"], ["aloneVsTorch", "alone / PyTorch (range)"]);
  }
  report([row], columns, json);
}
