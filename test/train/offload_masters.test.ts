import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import type { GPT } from "../../src/models/gpt.js";
import { elementCount } from "../../src/parallel/state.js";
import { buildRun } from "../../src/train/build.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import type { Config } from "../../src/train/config.js";
import { parseConfig } from "../../src/train/config_file.js";
import { modelStateBytes, parameterCount } from "../../src/train/model_state_bytes.js";
import { copyOnlyWeights } from "../../src/train/offload.js";
import { type RunSummary, runTraining } from "../../src/train/run.js";

const work = mkdtempSync(join(tmpdir(), "turbine-offload-masters-"));
after(() => rmSync(work, { recursive: true, force: true }));
const textPath = join(work, "corpus.txt");
writeFileSync(textPath, Array.from({ length: 200 }, (_, i) => `line ${i}: the quick brown fox jumps over ${(i * 37) % 101}\n`).join(""));

/** A tiny gpt (tied head) under bf16 autocast for `steps` AdamW steps, checkpointed at the end. */
function train(name: string, offload: "none" | "disk", steps: number, resume?: string): RunSummary {
  return runTraining(configOf(name, offload, steps), { log: () => {}, ...(resume ? { resume } : {}) });
}

function configOf(name: string, offload: "none" | "disk", steps: number): Config {
  return parseConfig(
    {
      outDir: work,
      name,
      model: { kind: "gpt", layers: 1, heads: 4, width: 32, context: 16, tiedHead: true },
      data: { kind: "text", path: textPath, batchSize: 4, valBatches: 1 },
      optimizer: { kind: "adamw", lr: 3e-3 },
      train: { steps, precision: "bfloat16", threads: 1, seed: 2 },
      checkpoint: { atEnd: true },
      parallel: { offload },
    },
    "test",
  );
}

/** Every model and optimizer tensor of a run's last checkpoint, as bits. */
function checkpointBits(summary: RunSummary): Record<string, number[]> {
  const checkpoint = loadCheckpoint(summary.checkpoint!);
  try {
    const out: Record<string, number[]> = {};
    for (const section of ["model", "optimizer"] as const) {
      for (const [name, info] of checkpoint.reader.tensors[section]) {
        const t = checkpoint.reader.read(section, name, 0, elementCount(info.shape));
        out[`${section}:${name}`] = Array.from(new Uint32Array(Float32Array.from(t.toHost()).buffer));
        t.dispose();
      }
    }
    return out;
  } finally {
    checkpoint.close();
  }
}

test("bf16 with parallel.offload disk moves the Linear weights' f32 masters to the file: training, checkpoints and a resume are bitwise those of the resident run", {
  timeout: 120_000,
}, () => {
  // Catches a master update that differs from the resident one, a bf16 copy not written by the
  // step (forward would compute with stale weights), the tied embedding's master offloaded (its
  // float32 lookup would fail), checkpoints that miss the offloaded masters or moments, and a
  // resume that does not write the checkpoint's masters and moments back into the file.
  // First, while this process's tracker holds nothing else (a finished run leaves its tensors counted).
  const offloaded = train("offloaded", "disk", 4);
  const resident = train("resident", "none", 4);
  assert.equal(offloaded.eval!.loss, resident.eval!.loss);
  assert.deepEqual(checkpointBits(offloaded), checkpointBits(resident), "the final checkpoints");
  const { model, train: loader } = buildRun(configOf("layout", "none", 1));
  loader.close();
  const masters = copyOnlyWeights(model).reduce((n, p) => n + p.size, 0);
  // The block's Linear weights: qkv 32×96, proj 32×32, fc 32×128, fcProj 128×32 (the head is the embedding's).
  assert.equal(masters, 3072 + 1024 + 4096 + 4096);
  const formula = modelStateBytes({
    parameters: parameterCount(model),
    lowPrecisionParameters: masters + (model as GPT).tokens.weight.size,
    offload: "disk",
    offloadedMasters: masters,
  });
  for (const key of ["parameters", "optimizer", "offloaded"] as const) assert.equal(offloaded.model_state_bytes[key], formula[key], key);
  const half = train("resumed", "disk", 2);
  const resumed = train("resumed", "disk", 4, half.run_dir);
  assert.deepEqual(checkpointBits(resumed), checkpointBits(resident), "resumed at step 2, the final checkpoint");
});
