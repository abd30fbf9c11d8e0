/**
 * Gradient compression on 2 ranks (threads backend): for each `parallel.compression.kind`, the mlp
 * (examples/mlp.json, --mlp-epochs epochs, test accuracy) and the gpt (examples/gpt-char.json,
 * --gpt-steps steps, validation loss) trained through `turbine launch -n 2`, with the bytes each
 * rank sent per step (`comm_bytes`) and their ratio to uncompressed DDP. Issue 18's targets: each
 * compressor within 0.5 points of the uncompressed mlp accuracy and 2% of the gpt's validation
 * loss; bytes bf16 2×, topk ≥ 20×, powersgd rank 4 ≥ 30×, onebit ≥ 25×. The onebitadam row is 1-bit
 * Adam (AdamW for --freeze-step steps, then the compressed momentum): its bytes are the run's
 * average, warm-up included.
 *
 *   node dist/bench/compression.js --mlp-epochs 2 --gpt-steps 500
 *
 * A smoke run: node dist/bench/compression.js --mlp-epochs 1 --gpt-steps 5 --mlp-steps 5
 */
import { join } from "node:path";

import { packageRoot } from "../src/package_root.js";
import { runJson } from "./compare.js";
import { benchOptions, report } from "./harness.js";

const { ints, json } = benchOptions("compression", { "mlp-epochs": 2, "mlp-steps": 0, "gpt-steps": 500, "threads-per-worker": 1, "freeze-step": 100 });
/** The compressors, and 1-bit Adam (optimizer onebitadam, uncompressed for --freeze-step steps). */
const KINDS = ["none", "bf16", "topk", "powersgd", "onebit", "onebitadam"] as const;
const cli = join(packageRoot(), "dist", "src", "cli", "main.js");

interface Summary {
  eval: { loss: number; accuracy?: number } | null;
  comm_bytes: number;
  train_s: number;
}

function train(example: string, kind: string, extra: string[]): Summary {
  const args = [cli, "launch", "-n", "2", "--threads-per-worker", String(ints["threads-per-worker"]), "--", "train", join(packageRoot(), "examples", example)];
  const method = kind === "onebitadam" ? ["optimizer.kind=onebitadam", `optimizer.freezeStep=${ints["freeze-step"]}`] : [`parallel.compression.kind=${kind}`];
  const sets = [...method, "checkpoint.atEnd=false", `outDir=${join(packageRoot(), "runs", "bench-compression")}`, ...extra];
  return runJson(process.execPath, [...args, ...sets.flatMap((s) => ["--set", s]), "--no-progress", "--json"]) as unknown as Summary;
}

const mlpLength = ints["mlp-steps"] > 0 ? [`train.steps=${ints["mlp-steps"]}`] : [`train.epochs=${ints["mlp-epochs"]}`];
const gptLength = [`train.steps=${ints["gpt-steps"]}`, `train.evalEvery=${ints["gpt-steps"]}`, "checkpoint.every=null"];
const rows: Record<string, unknown>[] = [];
for (const workload of ["mlp", "gpt"] as const) {
  let plainBytes = 0,
    plainScore = 0;
  for (const kind of KINDS) {
    const s = workload === "mlp" ? train("mlp.json", kind, mlpLength) : train("gpt-char.json", kind, gptLength);
    const score = workload === "mlp" ? 100 * (s.eval?.accuracy ?? Number.NaN) : (s.eval?.loss ?? Number.NaN);
    if (kind === "none") [plainBytes, plainScore] = [s.comm_bytes, score];
    const versus = workload === "mlp" ? `${(score - plainScore).toFixed(2)} pt` : `${((100 * (score - plainScore)) / plainScore).toFixed(2)}%`;
    rows.push({
      workload,
      kind,
      score: Number(score.toFixed(4)),
      versus,
      bytes: Math.round(s.comm_bytes),
      fewer: Number((plainBytes / s.comm_bytes).toFixed(1)),
      train_s: Number(s.train_s.toFixed(1)),
    });
    process.stderr.write(`${workload} ${kind}: ${JSON.stringify(rows.at(-1))}\n`);
  }
}
report(
  rows,
  [
    ["workload", "workload"],
    ["kind", "compression"],
    ["score", "accuracy % (mlp) / val loss (gpt)"],
    ["versus", "vs none"],
    ["bytes", "bytes/step/rank"],
    ["fewer", "× fewer"],
    ["train_s", "train s"],
  ],
  json,
);
