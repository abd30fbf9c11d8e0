/**
 * Models larger than one rank's memory, measured (issue 16):
 *
 * 1. A gpt whose full model states (16 bytes per parameter with AdamW: f32 parameters,
 *    gradients and two moments) exceed 1 GiB trains under ZeRO-3 on 4 ranks (threads backend,
 *    1 thread each); every rank's tracked peak (memory tracker, all categories at once,
 *    activations included) must stay below 1 GiB.
 * 2. The same gpt on 1 process under bf16 autocast, with `parallel.offload` "none" and then
 *    "disk", each in a fresh process: the drop in peak RSS (the process's maxRSS) must be at
 *    least 80% of the bytes offloaded: Adam's two moments (8 bytes per parameter) and the f32
 *    master weights of the Linear layers (4 bytes each), whose bf16 copies forward computes
 *    with (the tied embedding, the norms and the biases stay resident in f32).
 *
 *   node dist/bench/zero_memory.js [--layers 6] [--width 1024] [--steps 3] [--json]
 *
 * The defaults make Ψ ≈ 76M parameters (16Ψ ≈ 1.13 GiB). Checkpoints are off (a checkpoint of
 * offloaded state reads it back into memory), and so is evaluation beyond one batch.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { startThreads } from "../src/parallel/threads/spawn.js";
import { formatBytes } from "../src/train/memory_report.js";
import type { ConfigInput } from "../src/train/config.js";
import { parseConfig } from "../src/train/config_file.js";
import type { ModelStateBytes } from "../src/train/model_state_bytes.js";
import { runTraining } from "../src/train/run.js";
import type { PeakMemory } from "../src/train/memory_report.js";
import { benchOptions, report } from "./harness.js";

const GIB = 2 ** 30;
const CHILD = "TURBINE_ZERO_MEMORY_CHILD";

function config(outDir: string, zero: 0 | 3, offload: "none" | "disk", threads: number, precision: "float32" | "bfloat16"): ConfigInput {
  return {
    name: "zero_memory",
    outDir,
    model: { kind: "gpt", layers: ints.layers, heads: 16, width: ints.width, context: 64, tiedHead: true },
    data: { kind: "text", batchSize: 2, valBatches: 1 },
    optimizer: { kind: "adamw", lr: 1e-4 },
    schedule: { warmup: 1, decay: "cosine", floor: 0.1 },
    train: { steps: ints.steps, clipGradNorm: 1.0, threads, logEvery: 1, precision },
    checkpoint: { atEnd: false },
    parallel: { zero, offload },
  };
}

/** Child mode: one process trains with the offload given; prints its summary and peak RSS. */
function child(offload: "none" | "disk", outDir: string): void {
  const summary = runTraining(parseConfig(config(outDir, 0, offload, threads, "bfloat16"), "zero_memory"), { log: () => {} });
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${JSON.stringify({ maxRssBytes, modelStates: summary.model_state_bytes, train_s: summary.train_s })}\n`);
}

const { ints, json, threads } = benchOptions("zero_memory", { layers: 6, width: 1024, steps: 3 });
const work = mkdtempSync(join(tmpdir(), "turbine-zero-memory-"));
try {
  const childMode = process.env[CHILD];
  if (childMode === "none" || childMode === "disk") child(childMode, work);
  else await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const job = startThreads({
    size: 4,
    threadsPerWorker: 1,
    module: new URL("./zero_memory_rank.js", import.meta.url),
    args: { config: config(work, 3, "none", 1, "float32") },
  });
  const ranks = (await job.done).map((o) => {
    if (!o.ok) throw o.error;
    return o.result as { peak: PeakMemory; modelStates: ModelStateBytes; train_s: number };
  });
  // The ranks' optimizer shards (8 bytes per owned element) together give 8Ψ (padded): 16Ψ is twice that.
  const full = 2 * ranks.reduce((n, r) => n + r.modelStates.optimizer, 0);
  const rows: Record<string, unknown>[] = ranks.map((r, rank) => ({
    run: `ZeRO-3, 4 ranks: rank ${rank}`,
    peak: formatBytes(r.peak.total),
    modelStates: formatBytes(r.modelStates.resident),
    verdict: r.peak.total < GIB ? "below 1 GiB" : "NOT below 1 GiB",
  }));
  const measured = {} as Record<"none" | "disk", { maxRssBytes: number; modelStates: ModelStateBytes; train_s: number }>;
  for (const offload of ["none", "disk"] as const) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--threads", String(threads), ...argsOf()], {
      env: { ...process.env, [CHILD]: offload },
      encoding: "utf8",
      maxBuffer: 1 << 24,
    });
    if (r.status !== 0) throw new Error(`zero_memory: the offload=${offload} run failed (${r.status}): ${r.stderr}`);
    measured[offload] = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  }
  const offloaded = measured.disk.modelStates.offloaded;
  const drop = measured.none.maxRssBytes - measured.disk.maxRssBytes;
  for (const offload of ["none", "disk"] as const) {
    rows.push({
      run: `1 process, bf16, offload ${offload}`,
      peak: `${formatBytes(measured[offload].maxRssBytes)} RSS`,
      modelStates: formatBytes(measured[offload].modelStates.resident),
      verdict: "",
    });
  }
  rows.push({
    run: "RSS drop / bytes offloaded (moments + masters)",
    peak: `${formatBytes(drop)} / ${formatBytes(offloaded)}`,
    modelStates: `${((100 * drop) / offloaded).toFixed(1)}%`,
    verdict: drop >= 0.8 * offloaded ? "≥ 80%" : "NOT ≥ 80%",
  });
  if (!json)
    process.stdout.write(`full model states (16Ψ): ${formatBytes(full)}${full > GIB ? " (over 1 GiB)" : " (NOT over 1 GiB: raise --layers or --width)"}\n`);
  report(
    rows,
    [
      ["run", "run"],
      ["peak", "peak"],
      ["modelStates", "model states (sum of category peaks)"],
      ["verdict", "verdict"],
    ],
    json,
  );
}

function argsOf(): string[] {
  return ["--layers", String(ints.layers), "--width", String(ints.width), "--steps", String(ints.steps)];
}
