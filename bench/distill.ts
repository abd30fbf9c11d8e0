/**
 * Distillation (issue 19): does a student taught by a trained teacher beat the same student
 * trained alone for the same steps? The teacher is the default mlp (784-1024-1024-10) trained
 * `--teacher-epochs` epochs on Fashion-MNIST; the student is an mlp of width 256 trained
 * `--student-epochs` epochs with `distill` (temperature 4, alpha 0.7) and without, for each of
 * `--seeds` seeds (the seed sets initialisation and shuffling; both students of a seed share it).
 * Reports each run's test accuracy and loss and the mean difference. Counts accuracy, not time,
 * so load on the machine changes only how long it takes (about 2 minutes on 2 quiet cores).
 *
 *   npx tsc -p . && node dist/bench/distill.js [--seeds 3] [--teacher-epochs 4] [--student-epochs 2] [--json]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { parseConfig } from "../src/train/config_file.js";
import { runTraining } from "../src/train/run.js";
import { benchOptions, report } from "./harness.js";

const { json, ints } = benchOptions("distill", { seeds: 3, "teacher-epochs": 4, "student-epochs": 2 });
const out = mkdtempSync(join(tmpdir(), "turbine-bench-distill-"));

const train = (name: string, hidden: number[], epochs: number, seed: number, distill?: object) =>
  runTraining(
    parseConfig(
      {
        name,
        outDir: out,
        model: { kind: "mlp", hidden },
        data: { kind: "fashion-mnist", batchSize: 128 },
        optimizer: { kind: "adamw", lr: 2e-3 },
        schedule: { warmup: 100, decay: "cosine", floor: 0.1 },
        train: { epochs, seed, clipGradNorm: 1.0, logEvery: 1000 },
        checkpoint: { every: 100000 },
        ...(distill ? { distill } : {}),
      },
      "distill bench",
    ),
    { log: () => {} },
  );

try {
  const teacher = train("teacher", [1024, 1024], ints["teacher-epochs"], 0);
  const row = (run: string, seed: number, e: { accuracy?: number; loss: number }) => ({
    run,
    seed,
    accuracy: (100 * e.accuracy!).toFixed(2),
    loss: e.loss.toFixed(4),
  });
  const rows: Record<string, unknown>[] = [row("teacher (1024-1024)", 0, teacher.eval!)];
  const gains: number[] = [];
  for (let seed = 1; seed <= ints.seeds; seed++) {
    const alone = train(`alone-${seed}`, [256], ints["student-epochs"], seed);
    const taught = train(`taught-${seed}`, [256], ints["student-epochs"], seed, { teacher: teacher.run_dir, temperature: 4, alpha: 0.7 });
    rows.push(row("student alone", seed, alone.eval!), row("student taught", seed, taught.eval!));
    gains.push(taught.eval!.accuracy! - alone.eval!.accuracy!);
  }
  report(
    rows,
    [
      ["run", "run"],
      ["seed", "seed"],
      ["accuracy", "test accuracy %"],
      ["loss", "test loss"],
    ],
    json,
  );
  const mean = gains.reduce((a, b) => a + b, 0) / gains.length;
  if (!json) console.log(`taught − alone, test accuracy: ${gains.map((g) => (100 * g).toFixed(2)).join(", ")} points (mean ${(100 * mean).toFixed(2)})`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
