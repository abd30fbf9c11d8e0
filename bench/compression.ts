/**
 * Gradient compression on 2 ranks (threads backend): for each `parallel.compression.kind`, the mlp
 * (examples/mlp.json, --mlp-epochs epochs, test accuracy) and the gpt (examples/gpt-char.json,
 * --gpt-steps steps, validation loss) trained through `turbine launch -n 2`, with the bytes each
 * rank sent per step (`comm_bytes`, the run's average) and their ratio to uncompressed DDP. Issue
 * 18's targets: each compressor within 0.5 points of the uncompressed mlp accuracy and 2% of the
 * gpt's validation loss; bytes bf16 2×, topk ≥ 20×, powersgd rank 4 ≥ 30×, onebit ≥ 25×.
 * Kinds: the gradient hooks (none, bf16, topk at ratio 0.01, powersgd at rank 4, onebit); the
 * same compressors on AdamW's momentum once its variance freezes (`parallel.compression.target`
 * momentum after --warmup-steps plain steps: topk+momentum, powersgd+momentum, onebit+momentum,
 * the last being 1-bit Adam); onebitadam is 1-bit Adam through `optimizer.kind` with
 * --freeze-step steps of AdamW. Each row is the mean over --mlp-seeds / --gpt-seeds seeds
 * (`train.seed` 1, 2, …: initial weights and data order), with the seeds' range.
 *
 *   node dist/bench/compression.js --mlp-epochs 2 --gpt-steps 500 --mlp-seeds 3
 *   node dist/bench/compression.js --workloads mlp --kinds none,powersgd,topk+momentum
 *
 * A smoke run: node dist/bench/compression.js --mlp-epochs 1 --gpt-steps 5 --mlp-steps 5 --mlp-seeds 1
 */
import { join } from "node:path";

import { packageRoot } from "../src/package_root.js";
import { runJson } from "./compare.js";
import { benchOptions, report } from "./harness.js";

const KINDS = ["none", "bf16", "topk", "powersgd", "onebit", "topk+momentum", "powersgd+momentum", "onebit+momentum", "onebitadam"] as const;
const { ints, json, lists } = benchOptions(
  "compression",
  { "mlp-epochs": 2, "mlp-steps": 0, "gpt-steps": 500, "threads-per-worker": 1, "freeze-step": 100, "warmup-steps": 5, "mlp-seeds": 3, "gpt-seeds": 1 },
  { kinds: KINDS, workloads: ["mlp", "gpt"] },
);
const cli = join(packageRoot(), "dist", "src", "cli", "main.js");

interface Summary {
  eval: { loss: number; accuracy?: number } | null;
  comm_bytes: number;
  train_s: number;
}

/** The `--set`s of a kind: a gradient hook, a compressor on the momentum, or optimizer onebitadam. */
function method(kind: string): string[] {
  if (kind === "onebitadam") return ["optimizer.kind=onebitadam", `optimizer.freezeStep=${ints["freeze-step"]}`];
  const [compressor, target] = kind.split("+");
  return target === "momentum"
    ? [`parallel.compression.kind=${compressor}`, "parallel.compression.target=momentum", `parallel.compression.warmupSteps=${ints["warmup-steps"]}`]
    : [`parallel.compression.kind=${compressor}`];
}

function train(example: string, kind: string, seed: number, extra: string[]): Summary {
  const args = [cli, "launch", "-n", "2", "--threads-per-worker", String(ints["threads-per-worker"]), "--", "train", join(packageRoot(), "examples", example)];
  const sets = [...method(kind), `train.seed=${seed}`, "checkpoint.atEnd=false", `outDir=${join(packageRoot(), "runs", "bench-compression")}`, ...extra];
  return runJson(process.execPath, [...args, ...sets.flatMap((s) => ["--set", s]), "--no-progress", "--json"]) as unknown as Summary;
}

const mlpLength = ints["mlp-steps"] > 0 ? [`train.steps=${ints["mlp-steps"]}`] : [`train.epochs=${ints["mlp-epochs"]}`];
const gptLength = [`train.steps=${ints["gpt-steps"]}`, `train.evalEvery=${ints["gpt-steps"]}`, "checkpoint.every=null"];
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const kinds = lists.kinds!.includes("none") ? lists.kinds! : ["none", ...lists.kinds!]; // the reference of every row
const rows: Record<string, unknown>[] = [];
for (const workload of lists.workloads!) {
  const seeds = Array.from({ length: workload === "mlp" ? ints["mlp-seeds"] : ints["gpt-seeds"] }, (_, i) => i + 1);
  let plainBytes = 0,
    plainScore = 0;
  for (const kind of kinds) {
    const runs = seeds.map((seed) => (workload === "mlp" ? train("mlp.json", kind, seed, mlpLength) : train("gpt-char.json", kind, seed, gptLength)));
    const scores = runs.map((s) => (workload === "mlp" ? 100 * (s.eval?.accuracy ?? Number.NaN) : (s.eval?.loss ?? Number.NaN)));
    const [score, bytes] = [mean(scores), mean(runs.map((s) => s.comm_bytes))];
    if (kind === "none") [plainBytes, plainScore] = [bytes, score];
    const versus = workload === "mlp" ? `${(score - plainScore).toFixed(2)} pt` : `${((100 * (score - plainScore)) / plainScore).toFixed(2)}%`;
    rows.push({
      workload,
      kind,
      score: Number(score.toFixed(4)),
      range: `${Math.min(...scores).toFixed(workload === "mlp" ? 2 : 4)}–${Math.max(...scores).toFixed(workload === "mlp" ? 2 : 4)}`,
      versus,
      bytes: Math.round(bytes),
      fewer: Number((plainBytes / bytes).toFixed(1)),
      train_s: Number(mean(runs.map((s) => s.train_s)).toFixed(1)),
    });
    process.stderr.write(`${workload} ${kind}: ${JSON.stringify(rows.at(-1))}\n`);
  }
}
report(
  rows,
  [
    ["workload", "workload"],
    ["kind", "compression"],
    ["score", "accuracy % (mlp) / val loss (gpt), seeds' mean"],
    ["range", "seeds' range"],
    ["versus", "vs none"],
    ["bytes", "bytes/step/rank (run's mean)"],
    ["fewer", "× fewer"],
    ["train_s", "train s"],
  ],
  json,
);
