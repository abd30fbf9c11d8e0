/**
 * ZeRO against DDP on the gpt workload, 2 workers × 1 thread (threads backend): DDP and ZeRO
 * stages 1, 2 and 3, each in a fresh process, alternating for --rounds rounds (the side that
 * goes first rotating); prints the median job tokens/s of each and each stage's ratio to DDP
 * with its range over the rounds (targets: ZeRO-2 ≥ 0.95×, ZeRO-3 ≥ 0.85×).
 *
 *   node dist/bench/zero.js --rounds 5 --steps 20 --warmup 5
 */
import { fileURLToPath } from "node:url";

import { alternate, runJson } from "./compare.js";
import { benchOptions, median, printJobThroughput, report } from "./harness.js";

const { ints, json } = benchOptions("zero", { rounds: 5, steps: 20, warmup: 5, child: 0 });
const STAGES = [0, 1, 2, 3] as const;

function job(stage: number): number {
  const script = fileURLToPath(import.meta.url);
  return runJson(process.execPath, [script, "--child", String(stage + 1), "--steps", String(ints.steps), "--warmup", String(ints.warmup)]).throughput;
}

if (ints.child > 0) {
  // --child is stage + 1 (the options are positive integers).
  await printJobThroughput(2, new URL("./zero_rank.js", import.meta.url), { steps: ints.steps, warmup: ints.warmup, zero: ints.child - 1 });
} else {
  const runs: number[][] = STAGES.map(() => []);
  alternate(
    ints.rounds,
    STAGES.map((stage, i) => () => void runs[i]!.push(job(stage))),
  );
  for (let round = 0; round < ints.rounds; round++) {
    process.stderr.write(
      `round ${round + 1}/${ints.rounds}: ${STAGES.map((s, i) => `${s === 0 ? "DDP" : `ZeRO-${s}`} ${Math.round(runs[i]![round]!)}`).join(", ")} tok/s\n`,
    );
  }
  const ddp = runs[0]!;
  const rows = STAGES.map((stage, i) => {
    const ratios = runs[i]!.map((v, r) => v / ddp[r]!);
    return {
      strategy: stage === 0 ? "DDP" : `ZeRO-${stage}`,
      tokens: Math.round(median(runs[i]!)),
      ratio: `${(median(runs[i]!) / median(ddp)).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
    };
  });
  report(
    rows,
    [
      ["strategy", "2×1 threads"],
      ["tokens", "tok/s (median)"],
      ["ratio", "/ DDP (range)"],
    ],
    json,
  );
}
