import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { parseConfig } from "../../src/train/config_file.js";
import { runTraining } from "../../src/train/run.js";
import { missingFashionMnist, skipIfMissing } from "../helpers/prerequisites.js";

const work = mkdtempSync(join(tmpdir(), "turbine-precision-"));
after(() => rmSync(work, { recursive: true, force: true }));

function lossAt(precision: "float32" | "bfloat16" | "float16"): number {
  const config = parseConfig(
    {
      outDir: work,
      name: precision,
      model: { kind: "mlp", hidden: [32] },
      data: { kind: "fashion-mnist", batchSize: 64, evalBatchSize: 1000 },
      train: { steps: 5, precision, threads: 1, evalEvery: 5 },
      checkpoint: { atEnd: false },
    },
    "test",
  );
  const summary = runTraining(config, { log: () => {} });
  return summary.eval!.loss;
}

// The run once dropped train.precision on its way to the Trainer: every precision trained in
// float32, bit for bit. A bf16 or f16 run must differ from f32 by rounding, and only by rounding.
test("turbine train honours train.precision: bf16 and f16 runs differ from f32 by rounding only", { skip: skipIfMissing(missingFashionMnist()) }, () => {
  const f32 = lossAt("float32"),
    bf16 = lossAt("bfloat16"),
    f16 = lossAt("float16");
  assert.notEqual(bf16, f32, "a bfloat16 run computed exactly what the float32 run did: autocast never ran");
  assert.notEqual(f16, f32, "a float16 run computed exactly what the float32 run did: autocast never ran");
  // bf16 keeps 8 bits of mantissa: after 5 steps the evaluation loss moves by well under 1%.
  assert.ok(Math.abs(bf16 - f32) / f32 < 0.01, `bf16 ${bf16} vs f32 ${f32}`);
  assert.ok(Math.abs(f16 - f32) / f32 < 0.01, `f16 ${f16} vs f32 ${f32}`);
});
