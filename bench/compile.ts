/**
 * Compiled against eager training steps (train.compile) on the reference workloads of
 * DESIGN.md §4 (mlp, cnn, gpt at their bench sizes), in one process: each round runs `--steps`
 * steps of every side (the order rotates), after `--warmup` untimed steps each (at least 3: a
 * compiled side records its first two or three steps eagerly); the figure is the median step
 * time over all rounds, and the compiled side's compile time (recording bookkeeping and build),
 * its kernel calls per step, how many of them the native replay loop runs and the pairs fused.
 * `--bf16 1` adds the bf16 autocast sides. The claims (on its machine, against PyTorch):
 * gpt f32 ≥ 1.8×, cnn ≥ 1.5×, mlp ≥ 1.4× PyTorch; this bench gives the compiled/eager part.
 *
 *   npx tsc -p . && node dist/bench/compile.js [--threads N] [--steps N] [--rounds N] [--warmup N] [--bf16 0|1] [--json]
 */
import { parseConfig } from "../src/train/config_file.js";
import type { Trainer } from "../src/train/trainer.js";
import { packageRoot } from "../src/package_root.js";
import { benchOptions, median, report } from "./harness.js";
import { timedTrainer } from "./timed_trainer.js";
import { type BenchPrecision, WORKLOADS, type WorkloadName, workloadConfig } from "./workloads.js";

const { json, threads, ints } = benchOptions("compile", { steps: 5, rounds: 5, warmup: 4, bf16: 0 });
const { steps, rounds, bf16 } = ints;
const warmup = Math.max(3, ints.warmup);

interface Side {
  workload: WorkloadName;
  precision: BenchPrecision;
  compiled: boolean;
  trainer: Trainer;
  stepSeconds: number[];
}

function side(workload: WorkloadName, precision: BenchPrecision, compiled: boolean): Side {
  const raw = workloadConfig(workload, packageRoot(), warmup + rounds * steps, precision);
  const config = parseConfig({ ...raw, train: { ...(raw.train as object), compile: compiled } }, `${workload} workload`);
  return { workload, precision, compiled, ...timedTrainer(config, warmup) };
}

const precisions: BenchPrecision[] = bf16 ? ["f32", "bf16"] : ["f32"];
const sides = WORKLOADS.flatMap((w) => precisions.flatMap((p) => [side(w, p, false), side(w, p, true)]));
for (const s of sides) s.trainer.fit({ steps: warmup });
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < sides.length; i++) {
    const s = sides[(i + r) % sides.length]!;
    s.trainer.fit({ steps: s.trainer.step + steps });
  }
}

const rows = sides
  .filter((s) => s.compiled)
  .map((s) => {
    const eager = sides.find((e) => !e.compiled && e.workload === s.workload && e.precision === s.precision)!;
    const stats = s.trainer.compileStats!;
    return {
      workload: s.workload,
      precision: s.precision,
      threads,
      eager_ms: 1000 * median(eager.stepSeconds),
      compiled_ms: 1000 * median(s.stepSeconds),
      speedup: median(eager.stepSeconds) / median(s.stepSeconds),
      compile_ms: stats.compileMs,
      kernels: stats.last?.kernels ?? 0,
      native: stats.last?.nativeKernels ?? 0,
      fused: stats.last ? stats.last.fused.linearGelu + stats.last.fused.addLayerNorm : 0,
      arena_mib: (stats.last?.arenaBytes ?? 0) / 2 ** 20,
    };
  });
report(
  rows,
  [
    ["workload", "workload"],
    ["precision", "precision"],
    ["threads", "threads"],
    ["eager_ms", "eager step (ms)"],
    ["compiled_ms", "compiled step (ms)"],
    ["speedup", "× eager"],
    ["compile_ms", "compile (ms)"],
    ["kernels", "kernel calls"],
    ["native", "of them native"],
    ["fused", "pairs fused"],
    ["arena_mib", "arena (MiB)"],
  ],
  json,
);
